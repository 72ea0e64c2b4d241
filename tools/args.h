// A small command-line flag parser: declared flags with help text, --name value or --name=value.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/io/json.h"
#include "engine/tensor.h"

namespace pw::cli {

// "3,224,224" -> {3, 224, 224}: positive integers separated by commas; `flag` names the flag in
// the error message.
Shape parse_shape(const std::string& text, const std::string& flag);

// "3", "0,2,5", "0-15" or "all" (0 .. all-1; `all` <= 0 means it is not known here, an error) ->
// indices, for --units, --classes, --images; `flag` names the flag in error messages.
std::vector<int64_t> parse_indices(const std::string& text, int64_t all, const std::string& flag);

class Args {
 public:
  Args(std::string command, std::string summary);
  // Declares a flag with a default value (shown in --help). Boolean flags take no value.
  // A name may be declared once: a second declaration is an error (a program bug, not a user's).
  Args& flag(const std::string& name, const std::string& default_value, const std::string& help);
  Args& boolean(const std::string& name, const std::string& help);
  // Accepts arguments that are not flags (e.g. IMAGE...), shown in --help as `name`; without
  // this call such an argument is an error.
  Args& positional(const std::string& name, const std::string& help);
  const std::vector<std::string>& positionals() const { return positionals_; }
  // A heading in --help before the flags declared after it.
  Args& section(const std::string& title);
  // Parses argv[first..]; returns false if --help was asked (help already printed).
  bool parse(int argc, char** argv, int first);
  std::string help() const;
  const std::string& command() const { return command_; }

  std::string str(const std::string& name) const;
  int64_t i64(const std::string& name) const;
  double f64(const std::string& name) const;
  bool on(const std::string& name) const;
  // A flag whose default is empty ("absent"): nullopt when it has no value, else parsed as i64 / f64.
  std::optional<int64_t> maybe_i64(const std::string& name) const;
  std::optional<double> maybe_f64(const std::string& name) const;
  // Whether the flag was on the command line (its value may still equal the default).
  bool given(const std::string& name) const;
  // Every flag and its value as a JSON object (booleans as true/false, the rest as strings), for
  // the sidecar files that record how a picture was made.
  io::Json json() const;

 private:
  struct Flag {
    std::string name, value, help;
    bool is_bool = false;
    bool given = false;
    bool is_section = false;  // a heading in --help, not a flag
  };
  Args& declare(Flag f);
  static constexpr size_t kNone = static_cast<size_t>(-1);
  size_t index_of(const std::string& name) const;  // the one flag of that name, or kNone
  const Flag& get(const std::string& name) const;
  std::string command_, summary_;
  std::vector<Flag> flags_;
  std::string positional_name_, positional_help_;
  std::vector<std::string> positionals_;
};

}  // namespace pw::cli
