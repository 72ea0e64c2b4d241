// Decision replay (see decisions.h): one tape per thread, recorded or replayed in op order.
#include "engine/ops/decisions.h"

#include "engine/util/error.h"

namespace pw {

namespace {
enum class Mode { off, record, replay };
thread_local Mode g_mode = Mode::off;
thread_local DecisionTape* g_record = nullptr;
thread_local const DecisionTape* g_replay = nullptr;
thread_local size_t g_next = 0;

void check_free(const char* scope) {
  PW_CHECK(g_mode == Mode::off, scope, ": a decision tape is already being ",
           g_mode == Mode::record ? "recorded" : "replayed", " on this thread");
}
}  // namespace

RecordDecisions::RecordDecisions(DecisionTape& tape) {
  check_free("RecordDecisions");
  tape.entries.clear();
  g_mode = Mode::record;
  g_record = &tape;
}

RecordDecisions::~RecordDecisions() {
  g_mode = Mode::off;
  g_record = nullptr;
}

ReplayDecisions::ReplayDecisions(const DecisionTape& tape) : tape_(tape) {
  check_free("ReplayDecisions");
  g_mode = Mode::replay;
  g_replay = &tape;
  g_next = 0;
}

ReplayDecisions::~ReplayDecisions() {
  g_mode = Mode::off;
  g_replay = nullptr;
}

size_t ReplayDecisions::used() const { return g_next; }

void ReplayDecisions::check_used_up() const {
  PW_CHECK(g_next == tape_.size(), "decision replay: the run used ", g_next, " of the tape's ", tape_.size(),
           " decisions; the recorded run made other ops");
}

namespace detail {

bool recording_decisions() { return g_mode == Mode::record; }
bool replaying_decisions() { return g_mode == Mode::replay; }

void record_decision(const char* op, const Tensor& decision) { g_record->entries.push_back({op, decision.detach()}); }

Tensor next_decision(const char* op, const Shape& shape) {
  PW_CHECK(g_next < g_replay->size(), "decision replay: ", op, " asks for decision ", g_next + 1,
           " but the tape holds ", g_replay->size(), "; the recorded run made fewer ops");
  const DecisionTape::Entry& e = g_replay->entries[g_next];
  PW_CHECK(e.op == op && e.decision.shape() == shape, "decision replay: decision ", g_next + 1, " was recorded by ",
           e.op, " with shape ", shape_str(e.decision.shape()), ", replayed by ", op, " with shape ", shape_str(shape));
  ++g_next;
  return e.decision.to(Device::cpu()).contiguous();
}

}  // namespace detail

}  // namespace pw
