#include "common/job_text.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"

namespace ovvoc {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// `length` bytes of what a terminal would obey: OSC 52 clipboard write, C1 CSI, RLO, clear.
std::string Hostile(size_t length) {
  const std::string unit =
      "\x1b]52;c;QUFB\x07\xc2\x9b"
      "2J\xe2\x80\xae\x1b[2J";
  std::string out;
  while (out.size() < length) out += unit;
  out.resize(length);
  return out;
}

google::protobuf::UnknownFieldSet& UnknownOf(Message& message) {
  return *message.GetReflection()->MutableUnknownFields(&message);
}

bool HasUnknown(const Message& message) {
  return !message.GetReflection()->GetUnknownFields(message).empty();
}

// Sets every string and message field of `message` at every depth: `count` elements in each
// repeated field at the top, `nested_count` below, strings of `length` hostile bytes.
void FillEverything(Message& message, int count, int nested_count, size_t length) {
  const auto* reflection = message.GetReflection();
  const std::string text = Hostile(length);
  for (int i = 0; i < message.GetDescriptor()->field_count(); ++i) {
    const FieldDescriptor* f = message.GetDescriptor()->field(i);
    const bool repeated = f->is_repeated();
    for (int j = 0; j < (repeated ? count : 1); ++j) {
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_MESSAGE:
          FillEverything(repeated ? *reflection->AddMessage(&message, f)
                                  : *reflection->MutableMessage(&message, f),
                         nested_count, nested_count, length);
          break;
        case FieldDescriptor::CPPTYPE_STRING:
          repeated ? reflection->AddString(&message, f, text)
                   : reflection->SetString(&message, f, text);
          break;
        default:
          break;  // scalars: bounded by their type
      }
    }
  }
  UnknownOf(message).AddLengthDelimited(4999, std::string(length, 'u'));
}

// Calls `check` on every string in `message`, at every depth, with its field.
void ForEachString(const Message& message,
                   const std::function<void(const FieldDescriptor&, const std::string&)>& check) {
  const auto* reflection = message.GetReflection();
  for (int i = 0; i < message.GetDescriptor()->field_count(); ++i) {
    const FieldDescriptor* f = message.GetDescriptor()->field(i);
    const int n = f->is_repeated() ? reflection->FieldSize(message, f) : 1;
    for (int j = 0; j < n; ++j) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        check(*f, f->is_repeated() ? reflection->GetRepeatedString(message, f, j)
                                   : reflection->GetString(message, f));
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        ForEachString(f->is_repeated() ? reflection->GetRepeatedMessage(message, f, j)
                                       : reflection->GetMessage(message, f),
                      check);
      }
    }
  }
}

// What every stored result must be, however it arrived.
void CheckStorable(const ovvoc::v1::JobResult& result) {
  CHECK(result.ByteSizeLong() <= kMaxStoredResult);
  CHECK(result.dependencies_size() <= 2000);
  CHECK(result.proposals_size() <= 100);
  CHECK(result.findings_size() <= 200);
  CHECK(result.egress_size() <= 200);
  CHECK(result.timings_size() <= 32);
  CHECK(result.pull_requests_size() <= 16);
  ForEachString(result, [](const FieldDescriptor& field, const std::string& value) {
    INFO(field.full_name());
    CHECK(value.size() <= (field.name() == "log_excerpt" ? 12u * 1024 : 4u * 1024));
    CHECK(value.find('\x1b') == std::string::npos);
    CHECK(value.find("\xc2\x9b") == std::string::npos);
    CHECK(value.find("\xe2\x80\xae") == std::string::npos);
  });
  std::string wire;
  REQUIRE(result.SerializeToString(&wire));
  ovvoc::v1::JobResult reparsed;
  REQUIRE(reparsed.ParseFromString(wire));
  CHECK_FALSE(HasUnknown(reparsed));
}

TEST_CASE("byte counts read as a human would write them") {
  CHECK(HumanBytes(0) == "0 B");
  CHECK(HumanBytes(1023) == "1023 B");
  CHECK(HumanBytes(1024) == "1 KiB");
  CHECK(HumanBytes(812 * 1024 + 5) == "812 KiB");
  CHECK(HumanBytes(5 * 1024 * 1024 / 2) == "2.5 MiB");
}

TEST_CASE("where the install's network went, in one line") {
  ovvoc::v1::EgressUsage usage;
  usage.set_host("registry.npmjs.org");
  usage.set_port(443);
  usage.set_connections(14);
  usage.set_bytes_down(3 * 1024 * 1024 + 100 * 1024);
  usage.set_bytes_up(22 * 1024);
  CHECK(DescribeEgress(usage) == "registry.npmjs.org:443: 14 connections, 3.1 MiB down, 22 KiB up");
  usage.set_connections(1);
  usage.set_failed(1);
  CHECK(DescribeEgress(usage) ==
        "registry.npmjs.org:443: 1 connection, 3.1 MiB down, 22 KiB up, 1 failed");
}

TEST_CASE("a result is made inert everywhere: nested, repeated, log excerpts as text") {
  ovvoc::v1::JobResult result;
  result.mutable_failure()->set_reason("\x1b[2K\rsucceeded");
  result.mutable_baseline()->mutable_test()->set_log_excerpt("ok 1\n\x1b[31mnot ok 2\n");
  result.add_findings()->set_detail("CONNECT \x1b]0;x\x07");
  result.add_dependencies()->set_name("evil\x1b[8m");
  result.mutable_failure()->set_log_excerpt(std::string(200 * 1024, 'x'));
  MakeInert(result);
  CHECK(result.failure().reason() == "\\x1b[2K\\x0dsucceeded");
  CHECK(result.baseline().test().log_excerpt() == "ok 1\n\\x1b[31mnot ok 2\n");
  CHECK(result.findings(0).detail() == "CONNECT \\x1b]0;x\\x07");
  CHECK(result.dependencies(0).name() == "evil\\x1b[8m");
  CHECK(result.failure().log_excerpt().size() <= kMaxLogExcerpt);
  ovvoc::v1::JobResult again = result;
  MakeInert(again);
  CHECK(again.SerializeAsString() == result.SerializeAsString());
}

TEST_CASE("a result of 120,000 findings is stored as 200, the last saying what was dropped") {
  ovvoc::v1::JobResult result;
  result.set_outcome(ovvoc::v1::JOB_OUTCOME_SUCCEEDED);
  for (int i = 0; i < 120'000; ++i) {
    auto* finding = result.add_findings();
    finding->set_kind("blocked-egress");
    finding->set_detail("CONNECT 203.0.113.7:443");
  }
  result.add_dependencies()->set_name("left-pad");
  // Positive control: as sent, this is several MiB, a whole gRPC message's worth.
  REQUIRE(result.ByteSizeLong() > 3'000'000);
  BoundForStorage(result);
  CheckStorable(result);
  REQUIRE(result.findings_size() == 200);
  const ovvoc::v1::SecurityFinding& note = result.findings(199);
  CHECK(note.kind() == kTruncatedFindingKind);
  CHECK(note.severity() == ovvoc::v1::SEVERITY_MEDIUM);
  CHECK_THAT(note.detail(), Catch::Contains("199 of 120000 findings"));
  CHECK(result.findings(198).kind() == "blocked-egress");
  CHECK(result.dependencies(0).name() == "left-pad");
}

void AddFinding(ovvoc::v1::JobResult& result, const std::string& kind, ovvoc::v1::Severity severity,
                const std::string& detail) {
  ovvoc::v1::SecurityFinding* finding = result.add_findings();
  finding->set_kind(kind);
  finding->set_severity(severity);
  finding->set_detail(detail);
}

int IndexOfKind(const ovvoc::v1::JobResult& result, absl::string_view kind) {
  for (int i = 0; i < result.findings_size(); ++i) {
    if (result.findings(i).kind() == kind) return i;
  }
  return -1;
}

// Red team: 10,000 decoy refusals came first in a result, and the findings that mattered (a
// tampered manifest, an egress flood), made later in the job, were past the 200 kept.
TEST_CASE("findings that do not all fit: no one kind takes every place, the most severe first") {
  ovvoc::v1::JobResult result;
  for (int i = 0; i < 10'000; ++i) {
    AddFinding(result, "blocked-egress", ovvoc::v1::SEVERITY_HIGH,
               absl::StrCat("PUT 127.0.0.1:4873/decoy-", i, " refused by the registry gateway"));
  }
  AddFinding(result, "egress-flood", ovvoc::v1::SEVERITY_MEDIUM, "the job tried 5000 destinations");
  AddFinding(result, "manifest-tampered", ovvoc::v1::SEVERITY_HIGH, "package.json was changed");
  for (int i = 0; i < 3; ++i) {
    AddFinding(result, "new-install-script", ovvoc::v1::SEVERITY_LOW, absl::StrCat("dep-", i));
  }
  AddFinding(result, "typosquat", ovvoc::v1::SEVERITY_CRITICAL, "lodahs looks like lodash");
  // Positive control: kept as made, the first 200 would be decoys only.
  REQUIRE(IndexOfKind(result, "egress-flood") == 10'000);
  BoundForStorage(result);
  CheckStorable(result);
  REQUIRE(result.findings_size() == 200);
  // Each kind's first, the most severe first; then the second round, and so on.
  CHECK(result.findings(0).kind() == "typosquat");
  CHECK(result.findings(1).kind() == "blocked-egress");
  CHECK(result.findings(1).detail() ==
        "PUT 127.0.0.1:4873/decoy-0 refused by the registry gateway");
  CHECK(result.findings(2).kind() == "manifest-tampered");
  CHECK(result.findings(3).kind() == "egress-flood");
  CHECK(result.findings(4).kind() == "new-install-script");
  CHECK(result.findings(4).detail() == "dep-0");
  CHECK(result.findings(5).kind() == "blocked-egress");
  CHECK(result.findings(5).detail() ==
        "PUT 127.0.0.1:4873/decoy-1 refused by the registry gateway");
  CHECK(result.findings(6).detail() == "dep-1");
  CHECK(result.findings(9).detail() ==
        "PUT 127.0.0.1:4873/decoy-3 refused by the registry gateway");
  CHECK(result.findings(198).kind() == "blocked-egress");
  CHECK(result.findings(199).kind() == kTruncatedFindingKind);
  CHECK_THAT(result.findings(199).detail(), Catch::Contains("199 of 10006 findings"));
}

TEST_CASE(
    "findings over the byte budget are put in rounds too, findings that fit keep their order") {
  ovvoc::v1::JobResult result;
  SECTION("few, long") {
    for (int i = 0; i < 60; ++i) {
      AddFinding(result, "egress-flood", ovvoc::v1::SEVERITY_HIGH, std::string(900, 'x'));
    }
    AddFinding(result, "manifest-tampered", ovvoc::v1::SEVERITY_HIGH, "package.json was changed");
    REQUIRE(result.findings_size() < 200);  // only the bytes are over
    BoundForStorage(result);
    CheckStorable(result);
    CHECK(result.findings(1).kind() == "manifest-tampered");
    CHECK(result.findings(result.findings_size() - 1).kind() == kTruncatedFindingKind);
  }
  SECTION("all fit: as made, the less severe first if they came first") {
    AddFinding(result, "new-install-script", ovvoc::v1::SEVERITY_LOW, "dep-0");
    AddFinding(result, "blocked-egress", ovvoc::v1::SEVERITY_HIGH, "CONNECT evil.example:443");
    AddFinding(result, "new-install-script", ovvoc::v1::SEVERITY_LOW, "dep-1");
    const std::string sent = result.SerializeAsString();
    BoundForStorage(result);
    CHECK(result.SerializeAsString() == sent);
  }
}

TEST_CASE("unknown fields are dropped at every depth: 1 MB of opaque bytes is not stored") {
  ovvoc::v1::JobResult result;
  const std::string opaque(1 << 20, '\x01');
  UnknownOf(result).AddLengthDelimited(1000, opaque);
  UnknownOf(*result.add_dependencies()).AddLengthDelimited(77, opaque);
  UnknownOf(*result.mutable_baseline()->mutable_install()->mutable_tests()).AddVarint(9, 1);
  REQUIRE(result.ByteSizeLong() > 2 * opaque.size());
  BoundForStorage(result);
  CheckStorable(result);
  CHECK(result.ByteSizeLong() < 64);
  CHECK(result.findings_size() == 0);  // nothing of what the schema knows was dropped

  ovvoc::v1::Progress progress;
  progress.set_phase("install");
  UnknownOf(progress).AddLengthDelimited(4, opaque);
  BoundForStorage(progress);
  CHECK_FALSE(HasUnknown(progress));
  CHECK(progress.phase() == "install");
}

TEST_CASE("every field of a hostile result is bounded, however many and however long") {
  SECTION("many short elements in every repeated field") {
    ovvoc::v1::JobResult result;
    FillEverything(result, 10'000, 100, 40);
    REQUIRE(result.ByteSizeLong() > 4 * 1024 * 1024);
    BoundForStorage(result);
    CheckStorable(result);
    CHECK(result.findings(result.findings_size() - 1).kind() == kTruncatedFindingKind);
  }
  SECTION("few elements, every string far past its limit") {
    ovvoc::v1::JobResult result;
    FillEverything(result, 30, 30, 20 * 1024);
    BoundForStorage(result);
    CheckStorable(result);
    CHECK(result.failure().reason().size() <= 4 * 1024);
    CHECK(result.dependencies(0).name().size() <= 256);
    CHECK_THAT(result.findings(result.findings_size() - 1).detail(),
               Catch::Contains("of 30 proposals"));
  }
}

TEST_CASE("a result within the limits is stored as sent, made inert") {
  ovvoc::v1::JobResult result;
  result.set_outcome(ovvoc::v1::JOB_OUTCOME_FAILED);
  result.set_head_commit(std::string(40, 'a'));
  for (int i = 0; i < 300; ++i) {
    auto* dependency = result.add_dependencies();
    dependency->set_name(absl::StrCat("@scope/package-", i));
    dependency->set_spec("^1.2.3");
    dependency->set_manifest_path("packages/web/package.json");
  }
  result.mutable_failure()->set_reason("2 tests failed \x1b[8m");
  result.mutable_baseline()->mutable_test()->set_log_excerpt(std::string(10 * 1024, 'x') +
                                                             "\nnot ok 2\n");
  ovvoc::v1::JobResult expected = result;
  MakeInert(expected);
  BoundForStorage(result);
  CHECK(result.SerializeAsString() == expected.SerializeAsString());
  ovvoc::v1::JobResult again = result;
  BoundForStorage(again);
  CHECK(again.SerializeAsString() == result.SerializeAsString());
}

TEST_CASE("heartbeat progress is bounded and inert") {
  ovvoc::v1::Progress progress;
  progress.set_phase(std::string(100'000, 'p'));
  progress.set_message(Hostile(4 * 1024 * 1024));
  progress.set_percent(40);
  BoundForStorage(progress);
  CHECK(progress.phase().size() <= 256);
  CHECK(progress.message().size() <= 1024);
  CHECK(progress.message().find('\x1b') == std::string::npos);
  CHECK(progress.percent() == 40);
}

TEST_CASE("memory is described as working set and cache, or the peak alone when older") {
  ovvoc::v1::ResourceUsage usage;
  usage.set_peak_memory_bytes(512ull << 20);
  usage.mutable_cpu_time()->set_seconds(12);
  usage.mutable_cpu_time()->set_nanos(300000000);
  CHECK(DescribeMemory(usage) == "512.0 MiB peak, 12.3s CPU");
  usage.set_peak_working_set_bytes(180ull << 20);
  usage.set_peak_cache_bytes(330ull << 20);
  CHECK(DescribeMemory(usage) ==
        "180.0 MiB working set, 330.0 MiB page cache (cgroup peak 512.0 MiB), 12.3s CPU");
}

TEST_CASE("proposals are described a line each, inert, with what failed and what was found") {
  ovvoc::v1::JobResult result;
  ovvoc::v1::ProposalResult* passed = result.add_proposals();
  passed->set_outcome(ovvoc::v1::PROPOSAL_OUTCOME_PASSED);
  ovvoc::v1::PackageUpdate* u = passed->add_updates();
  u->set_name("lodash");
  u->set_from_version("4.17.20");
  u->set_to_version("4.17.21");
  u->set_type(ovvoc::v1::UPDATE_TYPE_PATCH);
  passed->set_branch("ovvoc/npm/lodash-4.17.21");
  passed->mutable_lockfile_change()->set_changed(1);
  passed->mutable_lockfile_change()->add_install_scripts("evil@1.0.0\x1b[2J");
  ovvoc::v1::TestCounts* tests = passed->mutable_trial()->mutable_test()->mutable_tests();
  tests->set_passed(12);
  tests->set_skipped(1);
  tests->set_total(13);
  tests->set_runner("mocha");
  ovvoc::v1::ProposalResult* failed = result.add_proposals();
  failed->set_outcome(ovvoc::v1::PROPOSAL_OUTCOME_FAILED);
  failed->set_group("react");
  for (const char* name : {"react", "react-dom", "scheduler", "loose-envify"}) {
    ovvoc::v1::PackageUpdate* g = failed->add_updates();
    g->set_name(name);
    g->set_from_version("17.0.2");
    g->set_to_version("18.2.0");
    g->set_type(ovvoc::v1::UPDATE_TYPE_MAJOR);
  }
  failed->mutable_failure()->set_phase("test");
  failed->mutable_failure()->set_reason("`npm test` exited with status 1");
  failed->add_findings()->set_kind("blocked-egress");
  failed->mutable_findings(0)->set_detail("CONNECT exfil.example:443 during install");
  CHECK(DescribeProposals(result) ==
        "passed  lodash 4.17.20 -> 4.17.21 (patch)  lockfile 1 changed, 0 added, 0 removed  "
        "tests 12 passed, 1 skipped of 13 (mocha)\n"
        "        branch ovvoc/npm/lodash-4.17.21\n"
        "        install script: evil@1.0.0\\x1b[2J\n"
        "failed  group react: react 17.0.2 -> 18.2.0 (major), react-dom 17.0.2 -> 18.2.0 (major), "
        "scheduler 17.0.2 -> 18.2.0 (major) and 1 more\n"
        "        test: `npm test` exited with status 1\n"
        "        finding blocked-egress: CONNECT exfil.example:443 during install\n");
  CHECK(DescribeProposals(ovvoc::v1::JobResult()).empty());
}

TEST_CASE("the node choice is described with what ran, and a missing image is said") {
  ovvoc::v1::NodeChoice node;
  CHECK(DescribeNode(node).empty());
  node.set_wanted_major(20);
  node.set_reason("lts/iron in .nvmrc");
  node.set_ran("20.19.0");
  CHECK(DescribeNode(node) == "wants node 20 (lts/iron in .nvmrc); ran 20.19.0");
  node.set_ran("24.11.1");
  CHECK(DescribeNode(node) ==
        "wants node 20 (lts/iron in .nvmrc); ran 24.11.1: this agent has no image for node 20");
}

TEST_CASE("the node choice says where a failing baseline went, and when every node failed") {
  ovvoc::v1::NodeChoice node;
  node.set_wanted_major(24);
  node.set_reason("the project names no node version: the agent's default");
  node.set_ran("20.20.2");
  ovvoc::v1::NodeAttempt* first = node.add_attempts();
  first->set_ran("24.22.3");
  first->set_phase("test");
  node.add_attempts()->CopyFrom(*first);
  node.mutable_attempts(1)->set_ran("22.23.5");
  node.set_baseline_passed(true);
  CHECK(DescribeNode(node) ==
        "wants node 24 (the project names no node version: the agent's default); ran 20.20.2, "
        "where the baseline passed after failing on 24.22.3 (test), 22.23.5 (test)");
  // Failed everywhere: the result is the chosen node's, the other tries beside it.
  node.set_baseline_passed(false);
  node.set_ran("24.22.3");
  node.mutable_attempts(0)->set_ran("22.23.5");
  node.mutable_attempts(1)->set_ran("20.20.2");
  node.mutable_attempts(1)->set_phase("install");
  CHECK(DescribeNode(node) ==
        "wants node 24 (the project names no node version: the agent's default); ran 24.22.3; "
        "the baseline also failed on 22.23.5 (test), 20.20.2 (install)");
  node.set_every_node_failed(true);
  CHECK(DescribeNode(node) ==
        "wants node 24 (the project names no node version: the agent's default); ran 24.22.3; "
        "the baseline also failed on 22.23.5 (test), 20.20.2 (install); broken before on every "
        "node the project allows");
}

TEST_CASE("a passed proposal's confidence is printed with every factor, inert") {
  ovvoc::v1::JobResult result;
  ovvoc::v1::ProposalResult* p = result.add_proposals();
  p->set_outcome(ovvoc::v1::PROPOSAL_OUTCOME_PASSED);
  p->set_branch("ovvoc/npm/a-1.0.1");
  p->set_commit("0123456789abcdef0123456789abcdef01234567");
  ovvoc::v1::PackageUpdate* u = p->add_updates();
  u->set_name("a");
  u->set_from_version("1.0.0");
  u->set_to_version("1.0.1");
  u->set_type(ovvoc::v1::UPDATE_TYPE_PATCH);
  ovvoc::v1::ConfidenceScore* score = p->mutable_confidence();
  score->set_score(78);
  ovvoc::v1::ConfidenceFactor* tests = score->add_factors();
  tests->set_name("tests");
  tests->set_known(true);
  tests->set_points(30);
  tests->set_max_points(35);
  tests->set_detail("12 tests ran (mocha)\x1b[2J");
  ovvoc::v1::ConfidenceFactor* flaky = score->add_factors();
  flaky->set_name("flaky tests");
  flaky->set_detail("unknown: no test ran");
  const std::string text = DescribeProposals(result);
  INFO(text);
  CHECK(text.find("        branch ovvoc/npm/a-1.0.1 at 0123456789ab\n") != std::string::npos);
  CHECK(text.find("        confidence 78/100\n"
                  "          tests             30/35    12 tests ran (mocha)\\x1b[2J\n"
                  "          flaky tests       unknown  unknown: no test ran\n") !=
        std::string::npos);
}

}  // namespace
}  // namespace ovvoc
