// Pictures of a t-SNE map (tasks/tsne.h): the points coloured by class with a legend, and the
// images themselves placed at their points (as DeCAF's figure), drawn without an image library.
#pragma once
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/tensor.h"

namespace pw::tasks {

// Where map coordinates land in a square of `side` pixels with `margin` pixels left on each side:
// the map's bounding box scaled alike on both axes and centred.
struct MapFrame {
  double x0 = 0, y0 = 0, scale = 1, offset_x = 0, offset_y = 0;
  double px(double x) const { return offset_x + (x - x0) * scale; }
  double py(double y) const { return offset_y + (y - y0) * scale; }
};
MapFrame fit_map(const std::vector<double>& y, int64_t side, int64_t margin);

// The points (y: N * 2) as dots of the palette colour of their label, in a side x side square,
// with a legend of class_names to its right and a title above. Without labels (empty) every dot
// has the first colour and there is no legend.
io::Image tsne_scatter(const std::vector<double>& y, const std::vector<int32_t>& labels,
                       const std::vector<std::string>& class_names, const std::string& title, int64_t side = 800);

// The images [N, C, H, W] (input space: undone with mean and std) of the first `count` points
// drawn at their points in a side x side square, framed in their label's colour (labels may be
// empty); later images are drawn over earlier ones.
io::Image tsne_thumbnails(const std::vector<double>& y, const Tensor& images, const std::vector<float>& mean,
                          const std::vector<float>& std, const std::vector<int32_t>& labels, int64_t count,
                          int64_t side = 1200);

}  // namespace pw::tasks
