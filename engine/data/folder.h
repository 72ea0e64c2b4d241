// Folders of image files: ImageNet-style labeled folders (one sub-folder per class, as
// torchvision's ImageFolder) and flat folders of unlabeled photos. Listing only finds the
// files; load_images decodes them, keeping labels aligned with the images that decoded.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/image.h"

namespace pw::data {

// File extensions taken as images, compared case-insensitively: the formats io::read_image
// decodes (JPEG, PNG, BMP). Other files are ignored, as are files and folders whose names
// start with '.' (.DS_Store, .ipynb_checkpoints, ...).
extern const std::vector<std::string> kImageExtensions;  // ".jpg", ".jpeg", ".png", ...
bool has_image_extension(const std::string& path);

struct ImageList {
  std::vector<std::string> paths;
  std::vector<int32_t> labels;       // one per path; empty for an unlabeled (flat) list
  std::vector<std::string> classes;  // class names, indexed by label; empty when unlabeled
};

// dir/<class>/**/<image>: classes are the sub-folder names sorted (byte order, like Python's
// sorted()), class k is label k; each class's images are found recursively and sorted by path,
// classes one after another. Files directly inside `dir` are ignored. Throws pw::Error for a
// missing folder, a folder without class sub-folders, and a class folder without images.
ImageList list_image_folder(const std::string& dir);

// The images in `dir` (and below it when `recursive`), sorted by path, without labels.
// Throws pw::Error for a missing folder and for one with no images (naming the extensions).
ImageList list_flat_folder(const std::string& dir, bool recursive = false);

struct LoadedImages {
  std::vector<io::Image> images;
  std::vector<int32_t> labels;       // aligned with images; empty when the list is unlabeled
  std::vector<std::string> paths;    // aligned with images
  std::vector<std::string> classes;  // copied from the list
  std::vector<std::string> skipped;  // with skip_bad: one error message (naming the file) per
                                     // image left out; skipped.size() is the count
};

// Decodes every image of `list` with io::read_image(path, channels), on all OpenMP threads,
// in list order. A file that cannot be decoded (missing, truncated, corrupt, unsupported) is
// an error naming it; with `skip_bad` it is left out together with its label and its message
// goes to `skipped`. Throws when skip_bad leaves no image at all.
LoadedImages load_images(const ImageList& list, int channels = 3, bool skip_bad = false);

}  // namespace pw::data
