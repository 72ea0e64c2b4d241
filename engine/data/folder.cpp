// Listing image folders (std::filesystem, sorted by path) and decoding lists of images in
// parallel, with errors that say which folder or file is wrong.
#include "engine/data/folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>

#include "engine/util/error.h"

namespace pw::data {

const std::vector<std::string> kImageExtensions = {".jpg", ".jpeg", ".png", ".bmp"};

namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string extension_list() {
  std::string s;
  for (const std::string& e : kImageExtensions) s += (s.empty() ? "" : " ") + e;
  return s + " (case-insensitive)";
}

bool is_hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

void check_folder(const std::string& dir, const char* what) {
  std::error_code ec;
  PW_CHECK(fs::exists(dir, ec), what, ": folder '", dir, "' does not exist");
  PW_CHECK(fs::is_directory(dir, ec), what, ": '", dir, "' is not a folder");
}

// Image files in `dir` (and below it when `recursive`; hidden folders are not entered),
// sorted by path.
std::vector<std::string> find_images(const fs::path& dir, bool recursive, const char* what) {
  std::vector<std::string> found;
  std::error_code ec;
  auto consider = [&](const fs::directory_entry& entry) {
    std::error_code type_ec;
    if (!is_hidden(entry.path()) && entry.is_regular_file(type_ec) && has_image_extension(entry.path().string()))
      found.push_back(entry.path().string());
  };
  if (recursive) {
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    PW_CHECK(!ec, what, ": cannot list '", dir.string(), "': ", ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      PW_CHECK(!ec, what, ": cannot list '", dir.string(), "': ", ec.message());
      std::error_code type_ec;
      if (is_hidden(it->path()) && it->is_directory(type_ec)) {
        it.disable_recursion_pending();
        continue;
      }
      consider(*it);
    }
    PW_CHECK(!ec, what, ": cannot list '", dir.string(), "': ", ec.message());
  } else {
    fs::directory_iterator it(dir, ec);
    PW_CHECK(!ec, what, ": cannot list '", dir.string(), "': ", ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      PW_CHECK(!ec, what, ": cannot list '", dir.string(), "': ", ec.message());
      consider(*it);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

bool has_image_extension(const std::string& path) {
  const std::string ext = lower(fs::path(path).extension().string());
  return std::find(kImageExtensions.begin(), kImageExtensions.end(), ext) != kImageExtensions.end();
}

ImageList list_image_folder(const std::string& dir) {
  check_folder(dir, "image folder");
  std::vector<std::string> class_dirs;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  PW_CHECK(!ec, "image folder: cannot list '", dir, "': ", ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    PW_CHECK(!ec, "image folder: cannot list '", dir, "': ", ec.message());
    std::error_code type_ec;
    if (!is_hidden(it->path()) && it->is_directory(type_ec)) class_dirs.push_back(it->path().filename().string());
  }
  PW_CHECK(!class_dirs.empty(), "image folder: '", dir,
           "' has no class sub-folders (a labeled image folder holds one sub-folder of images per "
           "class; a folder of unlabeled images is read with list_flat_folder)");
  std::sort(class_dirs.begin(), class_dirs.end());

  ImageList list;
  list.classes = class_dirs;
  for (size_t k = 0; k < class_dirs.size(); ++k) {
    const fs::path class_dir = fs::path(dir) / class_dirs[k];
    std::vector<std::string> images = find_images(class_dir, /*recursive=*/true, "image folder");
    PW_CHECK(!images.empty(), "image folder: class folder '", class_dir.string(), "' (class ", k, ", '", class_dirs[k],
             "') holds no images; looked for ", extension_list());
    for (std::string& path : images) {
      list.paths.push_back(std::move(path));
      list.labels.push_back(int32_t(k));
    }
  }
  return list;
}

ImageList list_flat_folder(const std::string& dir, bool recursive) {
  check_folder(dir, "image folder");
  ImageList list;
  list.paths = find_images(dir, recursive, "image folder");
  PW_CHECK(!list.paths.empty(), "image folder: '", dir, "' holds no images", recursive ? " (searched recursively)" : "",
           "; looked for ", extension_list());
  return list;
}

LoadedImages load_images(const ImageList& list, int channels, bool skip_bad) {
  PW_CHECK(list.labels.empty() || list.labels.size() == list.paths.size(), "load_images: the list has ",
           list.paths.size(), " paths but ", list.labels.size(), " labels");
  const int64_t n = int64_t(list.paths.size());
  std::vector<std::optional<io::Image>> decoded(n);
  std::vector<std::string> errors(n);
  // Exceptions must not cross the OpenMP region: each image's error is kept and raised after.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) {
    try {
      decoded[i] = io::read_image(list.paths[i], channels);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  LoadedImages out;
  out.classes = list.classes;
  for (int64_t i = 0; i < n; ++i) {
    if (!decoded[i]) {
      PW_CHECK(skip_bad, "load_images: ", errors[i]);
      out.skipped.push_back(errors[i]);
      continue;
    }
    out.images.push_back(std::move(*decoded[i]));
    out.paths.push_back(list.paths[i]);
    if (!list.labels.empty()) out.labels.push_back(list.labels[i]);
  }
  PW_CHECK(n == 0 || !out.images.empty(), "load_images: none of the ", n,
           " images could be decoded; the first error: ", errors.empty() ? "" : errors[0]);
  return out;
}

}  // namespace pw::data
