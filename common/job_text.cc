#include "common/job_text.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/inert.h"
#include "common/time_util.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace ovvoc {

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// How much of one repeated field is kept: its first `count` elements, as long as they add up to
// at most `bytes` serialised.
struct RepeatedLimit {
  int count;
  size_t bytes;
};

// What one walk over a message keeps of each field.
struct Limits {
  size_t (*string_bytes)(const FieldDescriptor& field);
  RepeatedLimit (*repeated)(const FieldDescriptor& field);
  // The limits below a message field (its elements, when repeated): these same when null.
  const Limits* (*inner)(const FieldDescriptor& field) = nullptr;
};

const Limits& Inner(const Limits& limits, const FieldDescriptor& field) {
  if (limits.inner == nullptr) return limits;
  const Limits* inner = limits.inner(field);
  return inner != nullptr ? *inner : limits;
}

// A repeated field that lost elements: kept of total, summed over every message it occurs in.
struct Dropped {
  std::string field;
  uint64_t kept = 0;
  uint64_t total = 0;
};

constexpr size_t kElementOverhead = 6;  // a tag and a length prefix, as serialised
constexpr int kMaxFindings = 200;

std::string Inert(const FieldDescriptor& field, const std::string& value, size_t max_bytes) {
  return field.name() == "log_excerpt" ? InertText(value, max_bytes) : InertLine(value, max_bytes);
}

void NoteDropped(std::vector<Dropped>* dropped, const Dropped& more) {
  if (dropped == nullptr || more.kept == more.total) return;
  auto it = std::find_if(dropped->begin(), dropped->end(),
                         [&more](const Dropped& d) { return d.field == more.field; });
  if (it == dropped->end()) it = dropped->insert(dropped->end(), Dropped{more.field});
  it->kept += more.kept;
  it->total += more.total;
}

void Walk(Message& message, const Limits& limits, std::vector<Dropped>* dropped);

// Bounds element `i` of a repeated field in place and returns its serialised size.
size_t BoundElement(Message& message, const FieldDescriptor& field, int i, const Limits& limits,
                    std::vector<Dropped>* dropped) {
  const Reflection* reflection = message.GetReflection();
  if (field.type() == FieldDescriptor::TYPE_MESSAGE) {
    Message* element = reflection->MutableRepeatedMessage(&message, &field, i);
    Walk(*element, Inner(limits, field), dropped);
    return element->ByteSizeLong();
  }
  if (field.type() == FieldDescriptor::TYPE_STRING) {
    std::string value =
        Inert(field, reflection->GetRepeatedString(message, &field, i), limits.string_bytes(field));
    const size_t size = value.size();
    reflection->SetRepeatedString(&message, &field, i, std::move(value));
    return size;
  }
  return sizeof(uint64_t);  // a scalar, at most a varint's 10 bytes with its tag
}

void BoundRepeated(Message& message, const FieldDescriptor& field, const Limits& limits,
                   std::vector<Dropped>* dropped) {
  const Reflection* reflection = message.GetReflection();
  const int total = reflection->FieldSize(message, &field);
  const RepeatedLimit limit = limits.repeated(field);
  int kept = 0;
  for (size_t bytes = 0; kept < std::min(total, limit.count); ++kept) {
    // What an element lost counts only if the element itself is kept.
    std::vector<Dropped> inside;
    bytes +=
        BoundElement(message, field, kept, limits, dropped ? &inside : nullptr) + kElementOverhead;
    if (bytes > limit.bytes) break;
    for (const Dropped& d : inside) NoteDropped(dropped, d);
  }
  for (int i = kept; i < total; ++i) reflection->RemoveLast(&message, &field);
  NoteDropped(dropped, {field.name(), static_cast<uint64_t>(kept), static_cast<uint64_t>(total)});
}

// Every string of `message`, at any depth, made inert within its limit; every repeated field
// cut to its limit.
void Walk(Message& message, const Limits& limits, std::vector<Dropped>* dropped) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor& field = *descriptor->field(i);
    if (field.is_repeated()) {
      BoundRepeated(message, field, limits, dropped);
    } else if (field.has_presence() && !reflection->HasField(message, &field)) {
      continue;
    } else if (field.type() == FieldDescriptor::TYPE_MESSAGE) {
      Walk(*reflection->MutableMessage(&message, &field), Inner(limits, field), dropped);
    } else if (field.type() == FieldDescriptor::TYPE_STRING) {
      const std::string& value = reflection->GetString(message, &field);
      if (!value.empty()) {
        reflection->SetString(&message, &field, Inert(field, value, limits.string_bytes(field)));
      }
    }
  }
}

// MakeInert: every string bounded generously, nothing dropped.
size_t InertStringBytes(const FieldDescriptor& field) {
  return field.name() == "log_excerpt" ? kMaxLogExcerpt : kMaxField;
}

RepeatedLimit Unlimited(const FieldDescriptor&) { return RepeatedLimit{INT_MAX, SIZE_MAX}; }

constexpr Limits kInertLimits = {InertStringBytes, Unlimited};

// BoundForStorage: what job_text.h promises, field by field.
size_t StoredStringBytes(const FieldDescriptor& field) {
  const std::string& name = field.name();
  if (name == "log_excerpt") return 12 * 1024;
  if (name == "reason") return 4 * 1024;
  if (name == "detail" || name == "command" || name == "url" || name == "message") return 1024;
  return 256;
}

// agent/npm/plan.h lists at most 10 passed-over versions and two summary lines.
constexpr int kMaxPassedOverStored = 12;

RepeatedLimit StoredRepeated(const FieldDescriptor& field) {
  static constexpr std::pair<absl::string_view, RepeatedLimit> kLimits[] = {
      {"ovvoc.v1.JobResult.dependencies", {2000, 48 * 1024}},
      {"ovvoc.v1.JobResult.proposals", {100, 72 * 1024}},
      {"ovvoc.v1.ProposalResult.updates", {100, 8 * 1024}},
      {"ovvoc.v1.ProposalResult.findings", {20, 4 * 1024}},
      {"ovvoc.v1.JobResult.findings", {kMaxFindings, 24 * 1024}},
      {"ovvoc.v1.JobResult.egress", {200, 8 * 1024}},
      {"ovvoc.v1.JobResult.timings", {32, 2 * 1024}},
      {"ovvoc.v1.JobResult.pull_requests", {16, 8 * 1024}},
      {"ovvoc.v1.Plan.dependencies", {2000, 96 * 1024}},
      {"ovvoc.v1.PlannedDependency.passed_over", {kMaxPassedOverStored, 2 * 1024}},
      {"ovvoc.v1.Plan.proposals", {500, 16 * 1024}},
      {"ovvoc.v1.PlanProposal.dependencies", {2000, 8 * 1024}},
      {"ovvoc.v1.Plan.problems", {100, 16 * 1024}},
  };
  for (const auto& [name, limit] : kLimits) {
    if (field.full_name() == name) return limit;
  }
  return RepeatedLimit{64, 4 * 1024};
}

// Within a proposal: its commands' excerpts are evidence beside the baseline's, and a result
// holds many proposals.
size_t StoredProposalStringBytes(const FieldDescriptor& field) {
  return field.name() == "log_excerpt" ? 2 * 1024
                                       : std::min<size_t>(StoredStringBytes(field), 1024);
}

constexpr Limits kProposalStorageLimits = {StoredProposalStringBytes, StoredRepeated};

const Limits* StoredInner(const FieldDescriptor& field) {
  return field.full_name() == "ovvoc.v1.JobResult.proposals" ? &kProposalStorageLimits : nullptr;
}

constexpr Limits kStorageLimits = {StoredStringBytes, StoredRepeated, StoredInner};

// Which findings are kept when not all of them fit: every kind's first before any kind's second,
// and so on, the most severe first in each round; so that one kind repeated (a container's
// decoys, added early) cannot take every place from the others (the findings that matter, added
// later). When all fit, nothing moves: the findings stay in the order they were made.
void RankFindings(ovvoc::v1::JobResult& result) {
  const RepeatedLimit limit = StoredRepeated(*result.GetDescriptor()->FindFieldByName("findings"));
  size_t bytes = 0;
  for (ovvoc::v1::SecurityFinding& finding : *result.mutable_findings()) {
    Walk(finding, kStorageLimits, nullptr);  // bounded as they will be stored (idempotent)
    bytes += finding.ByteSizeLong() + kElementOverhead;
  }
  if (result.findings_size() <= limit.count && bytes <= limit.bytes) return;
  struct Rank {
    int round;  // how many of its kind come before it
    int severity;
    int index;
  };
  std::vector<Rank> ranks;
  std::map<std::string, int> per_kind;
  for (int i = 0; i < result.findings_size(); ++i) {
    const ovvoc::v1::SecurityFinding& finding = result.findings(i);
    ranks.push_back({per_kind[finding.kind()]++, finding.severity(), i});
  }
  std::stable_sort(ranks.begin(), ranks.end(), [](const Rank& a, const Rank& b) {
    return a.round != b.round ? a.round < b.round : a.severity > b.severity;
  });
  google::protobuf::RepeatedPtrField<ovvoc::v1::SecurityFinding> made;
  made.Swap(result.mutable_findings());
  for (const Rank& rank : ranks) *result.add_findings() = std::move(*made.Mutable(rank.index));
}

// The finding that says what BoundForStorage dropped.
void AddTruncatedFinding(ovvoc::v1::JobResult& result, std::vector<Dropped> dropped) {
  if (result.findings_size() >= kMaxFindings) {
    // The last finding kept makes room for this one.
    result.mutable_findings()->RemoveLast();
    auto findings = std::find_if(dropped.begin(), dropped.end(),
                                 [](const Dropped& d) { return d.field == "findings"; });
    if (findings == dropped.end()) {
      dropped.push_back({"findings", kMaxFindings, kMaxFindings});
      findings = dropped.end() - 1;
    }
    findings->kept -= 1;
  }
  std::vector<std::string> parts;
  for (const Dropped& d : dropped) {
    parts.push_back(absl::StrCat(d.kept, " of ", d.total, " ", d.field));
  }
  ovvoc::v1::SecurityFinding* finding = result.add_findings();
  finding->set_kind(kTruncatedFindingKind);
  finding->set_severity(ovvoc::v1::SEVERITY_MEDIUM);
  finding->set_detail(
      InertLine(absl::StrCat("the result was larger than the control plane keeps: it kept ",
                             absl::StrJoin(parts, ", ")),
                1024));
}

}  // namespace

void MakeInert(google::protobuf::Message& message) { Walk(message, kInertLimits, nullptr); }

void BoundForStorage(ovvoc::v1::JobResult& result) {
  result.DiscardUnknownFields();
  RankFindings(result);
  std::vector<Dropped> dropped;
  Walk(result, kStorageLimits, &dropped);
  if (!dropped.empty()) AddTruncatedFinding(result, std::move(dropped));
}

absl::Status CheckBaselineMemo(const ovvoc::v1::BaselineMemo& memo) {
  const std::string& key = memo.key();
  const bool hex_key = key.size() == 64 && std::all_of(key.begin(), key.end(), [](char c) {
                         return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
                       });
  if (!hex_key) return absl::InvalidArgumentError("its key is not a sha256");
  if (memo.job_id().empty()) return absl::InvalidArgumentError("it names no job");
  if (memo.ByteSizeLong() > kMaxBaselineMemoBytes) {
    return absl::InvalidArgumentError("it is larger than a memo may be");
  }
  for (const ovvoc::v1::SecurityFinding& finding : memo.findings()) {
    if (finding.severity() >= ovvoc::v1::SEVERITY_HIGH) {
      return absl::InvalidArgumentError("it holds a high-severity finding");
    }
  }
  if (!memo.has_installed() || memo.installed().partial()) {
    return absl::InvalidArgumentError("it lacks what the install left in node_modules");
  }
  if (!memo.trial().build().skipped() &&
      (!memo.has_installed_after_build() || memo.installed_after_build().partial())) {
    return absl::InvalidArgumentError("it lacks what the build left in node_modules");
  }
  if (memo.install_added_partial() || memo.build_added_partial()) {
    return absl::InvalidArgumentError("its lists of the paths made are partial");
  }
  return absl::OkStatus();
}

void BoundForStorage(ovvoc::v1::Progress& progress) {
  progress.DiscardUnknownFields();
  Walk(progress, kStorageLimits, nullptr);
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes >= (1u << 20))
    return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  if (bytes >= (1u << 10)) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " B");
}

std::string DescribeMemory(const ovvoc::v1::ResourceUsage& usage) {
  const std::string cpu =
      absl::StrFormat("%.1fs CPU", absl::ToDoubleSeconds(FromProto(usage.cpu_time())));
  if (usage.peak_working_set_bytes() == 0) {
    return absl::StrCat(HumanBytes(usage.peak_memory_bytes()), " peak, ", cpu);
  }
  return absl::StrCat(HumanBytes(usage.peak_working_set_bytes()), " working set, ",
                      HumanBytes(usage.peak_cache_bytes()), " page cache (cgroup peak ",
                      HumanBytes(usage.peak_memory_bytes()), "), ", cpu);
}

std::string DescribeNode(const ovvoc::v1::NodeChoice& node) {
  if (node.wanted_major() == 0) return "";
  std::string out = absl::StrCat("wants node ", node.wanted_major(), " (",
                                 InertLine(node.reason(), 200), ")");
  if (!node.ran().empty()) {
    absl::StrAppend(&out, "; ran ", InertLine(node.ran(), 40));
    if (node.attempts_size() > 0) {
      std::vector<std::string> failed;
      for (const ovvoc::v1::NodeAttempt& a : node.attempts()) {
        failed.push_back(absl::StrCat(InertLine(a.ran(), 40), " (", InertLine(a.phase(), 20), ")"));
      }
      absl::StrAppend(&out, node.baseline_passed() ? ", where the baseline passed after failing on "
                                                   : "; the baseline also failed on ",
                      absl::StrJoin(failed, ", "));
    } else if (!absl::StartsWith(node.ran(), absl::StrCat(node.wanted_major(), "."))) {
      absl::StrAppend(&out, ": this agent has no image for node ", node.wanted_major());
    }
    if (node.every_node_failed()) {
      absl::StrAppend(&out, "; broken before on every node the project allows");
    }
  }
  return out;
}

std::string DescribeTests(const ovvoc::v1::TestCounts& tests) {
  if (tests.total() == 0 && tests.runner().empty()) return "";
  std::vector<std::string> parts = {absl::StrCat(tests.passed(), " passed")};
  if (tests.failed() > 0) parts.push_back(absl::StrCat(tests.failed(), " failed"));
  if (tests.skipped() > 0) parts.push_back(absl::StrCat(tests.skipped(), " skipped"));
  return absl::StrCat(absl::StrJoin(parts, ", "), " of ", tests.total(), " (",
                      InertLine(tests.runner(), 60), ")");
}

namespace {

std::string Lowered(absl::string_view enum_name, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(enum_name, prefix));
}

std::string ProposalTitle(const ovvoc::v1::ProposalResult& p) {
  std::vector<std::string> updates;
  for (const ovvoc::v1::PackageUpdate& u : p.updates()) {
    updates.push_back(absl::StrCat(InertLine(u.name(), 100), " ",
                                   u.from_version().empty() ? "?" : InertLine(u.from_version(), 40),
                                   " -> ", InertLine(u.to_version(), 40), " (",
                                   Lowered(ovvoc::v1::UpdateType_Name(u.type()), "UPDATE_TYPE_"),
                                   ")"));
  }
  constexpr size_t kShown = 3;
  std::string title =
      absl::StrJoin(updates.begin(), updates.begin() + std::min(updates.size(), kShown), ", ");
  if (updates.size() > kShown) absl::StrAppend(&title, " and ", updates.size() - kShown, " more");
  if (!p.group().empty()) title = absl::StrCat("group ", InertLine(p.group(), 100), ": ", title);
  return title;
}

}  // namespace

std::string DescribeConfidence(const ovvoc::v1::ConfidenceScore& score, int indent) {
  const std::string pad(static_cast<size_t>(std::clamp(indent, 0, 40)), ' ');
  std::string out = absl::StrCat(pad, "confidence ", score.score(), "/100\n");
  for (const ovvoc::v1::ConfidenceFactor& f : score.factors()) {
    const std::string points =
        f.known() ? absl::StrFormat("%g/%g", f.points(), f.max_points()) : "unknown";
    absl::StrAppend(&out, pad, "  ", absl::StrFormat("%-17s %-8s ", InertLine(f.name(), 40), points),
                    InertLine(f.detail(), 600), "\n");
  }
  return out;
}

std::string DescribeProposals(const ovvoc::v1::JobResult& result) {
  std::string out;
  for (const ovvoc::v1::ProposalResult& p : result.proposals()) {
    std::string line = absl::StrCat(
        absl::StrFormat("%-7s ",
                        Lowered(ovvoc::v1::ProposalOutcome_Name(p.outcome()), "PROPOSAL_OUTCOME_")),
        ProposalTitle(p));
    if (p.outcome() == ovvoc::v1::PROPOSAL_OUTCOME_PASSED) {
      const ovvoc::v1::LockfileChange& change = p.lockfile_change();
      absl::StrAppend(&line, "  lockfile ", change.changed(), " changed, ", change.added(),
                      " added, ", change.removed(), " removed");
      if (const std::string tests = DescribeTests(p.trial().test().tests()); !tests.empty()) {
        absl::StrAppend(&line, "  tests ", tests);
      }
      absl::StrAppend(
          &out, line, "\n        branch ", InertLine(p.branch(), 200),
          p.commit().empty() ? "" : absl::StrCat(" at ", InertLine(p.commit().substr(0, 12))),
          "\n");
      if (p.has_confidence()) absl::StrAppend(&out, DescribeConfidence(p.confidence(), 8));
    } else {
      absl::StrAppend(&out, line, "\n        ", InertLine(p.failure().phase(), 40), ": ",
                      InertLine(p.failure().reason(), 400), "\n");
    }
    if (!p.proven_by_job().empty()) {
      absl::StrAppend(&out, "        proven by ", InertLine(p.proven_by_job(), 64),
                      ": nothing new since (the same baseline and updates), not run again\n");
    }
    for (const std::string& script : p.lockfile_change().install_scripts()) {
      absl::StrAppend(&out, "        install script: ", InertLine(script, 200), "\n");
    }
    for (const ovvoc::v1::SecurityFinding& f : p.findings()) {
      absl::StrAppend(&out, "        finding ", InertLine(f.kind(), 60), ": ",
                      InertLine(f.detail(), 400), "\n");
    }
  }
  return out;
}

std::string DescribeBaselineReuse(const ovvoc::v1::JobResult& result) {
  if (!result.has_baseline_reused()) return "";
  const ovvoc::v1::BaselineReuse& reuse = result.baseline_reused();
  return absl::StrCat(reuse.job_id(), " proved it at ", Rfc3339(FromProto(reuse.proven_at())),
                      " (the same commit, lockfile, image and commands): not run again");
}

std::string DescribeNpm(const ovvoc::v1::NpmChoice& npm) {
  if (npm.version().empty()) return "";
  return absl::StrCat(InertLine(npm.version(), 40), " (", InertLine(npm.reason(), 200), ")");
}

std::string DescribeEgress(const ovvoc::v1::EgressUsage& usage) {
  if (usage.requests() > 0) {
    return absl::StrCat(usage.host(), ":", usage.port(), ": ", usage.requests(),
                        usage.requests() == 1 ? " read, " : " reads, ",
                        HumanBytes(usage.bytes_down()), " served through the registry gateway",
                        usage.failed() > 0 ? absl::StrCat(", ", usage.failed(), " failed") : "");
  }
  return absl::StrCat(usage.host(), ":", usage.port(), ": ", usage.connections(),
                      usage.connections() == 1 ? " connection, " : " connections, ",
                      HumanBytes(usage.bytes_down()), " down, ", HumanBytes(usage.bytes_up()),
                      " up",
                      usage.failed() > 0 ? absl::StrCat(", ", usage.failed(), " failed") : "");
}

}  // namespace ovvoc
