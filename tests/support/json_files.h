// Reading back what the program writes, with the strict reader: a member of a parsed object, a
// file's text, and a check that every JSON file under a folder parses.
#pragma once
#include <string>
#include <vector>

#include "engine/io/json.h"

namespace pw::testing {

// The member `key` of an object; pw::Error naming the key when there is none.
const io::JsonValue& json_member(const io::JsonValue& v, const std::string& key);

// The whole file; pw::Error when it cannot be read.
std::string read_text(const std::string& path);

// Parses, under the folder `dir` and its sub-folders: every *.json file as one JSON document, every
// line of every *.jsonl file as one, and the header of every *.safetensors file. Returns the files
// checked; throws pw::Error (naming the file, and the line of a .jsonl) at the first that fails.
std::vector<std::string> parse_every_json_file(const std::string& dir);

}  // namespace pw::testing
