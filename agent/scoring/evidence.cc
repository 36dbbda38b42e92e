#include "agent/scoring/evidence.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/npm/typosquat.h"
#include "agent/workspace/beneath.h"
#include "common/inert.h"

namespace ovvoc::agent::scoring {
namespace {

using ovvoc::v1::SecurityFinding;

std::vector<std::string> Sorted(std::set<std::string> names) {
  return std::vector<std::string>(names.begin(), names.end());
}

SecurityFinding Finding(const char* kind, ovvoc::v1::Severity severity, std::string package,
                        std::string detail) {
  SecurityFinding f;
  f.set_kind(kind);
  f.set_severity(severity);
  f.set_package(InertLine(package, 256));
  f.set_detail(InertLine(detail, 1024));
  return f;
}

// Adds `made` to `out`, at most kMaxFindingsPerKind of them and a line counting the rest.
void AddBounded(std::vector<SecurityFinding> made, std::vector<SecurityFinding>& out) {
  if (made.size() > kMaxFindingsPerKind) {
    const size_t rest = made.size() - kMaxFindingsPerKind + 1;
    made.resize(kMaxFindingsPerKind - 1);
    made.push_back(Finding(made.front().kind().c_str(), made.front().severity(), "",
                           absl::StrCat(rest, " more like these")));
  }
  for (SecurityFinding& f : made) out.push_back(std::move(f));
}

// "a@1.0.0" -> "a", "@s/a@1.0.0" -> "@s/a".
absl::string_view NameOf(absl::string_view name_at_version) {
  const size_t at = name_at_version.rfind('@');
  return at == 0 || at == absl::string_view::npos ? name_at_version : name_at_version.substr(0, at);
}

bool SourceFile(absl::string_view name) {
  for (absl::string_view ext :
       {".js", ".cjs", ".mjs", ".jsx", ".ts", ".cts", ".mts", ".tsx", ".vue", ".svelte"}) {
    if (absl::EndsWith(name, ext)) return true;
  }
  return false;
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
         c == '@' || c == '/';
}

// Whether `text` imports or requires `package` (or a subpath of it) by a string literal: the
// name right after a quote, followed by a closing quote or "/".
bool Imports(absl::string_view text, absl::string_view package) {
  for (char quote : {'\'', '"', '`'}) {
    const std::string open = absl::StrCat(std::string(1, quote), package);
    for (size_t at = text.find(open); at != absl::string_view::npos; at = text.find(open, at + 1)) {
      const size_t end = at + open.size();
      if (end >= text.size() || (text[end] != quote && text[end] != '/')) continue;
      // What stands before the quote: require( import( from import.
      absl::string_view before = absl::StripTrailingAsciiWhitespace(text.substr(0, at));
      if (absl::EndsWith(before, "(")) {
        before = absl::StripTrailingAsciiWhitespace(before.substr(0, before.size() - 1));
        if (absl::EndsWith(before, "require") || absl::EndsWith(before, "import") ||
            absl::EndsWith(before, "require.resolve")) {
          return true;
        }
      } else if (absl::EndsWith(before, "from") || absl::EndsWith(before, "import")) {
        return true;
      }
    }
  }
  return false;
}

// Whether a script names `package` as a word ("mocha test/", "npx eslint .").
bool NamesWord(absl::string_view script, absl::string_view package) {
  for (size_t at = script.find(package); at != absl::string_view::npos;
       at = script.find(package, at + 1)) {
    const size_t end = at + package.size();
    if ((at == 0 || !IsNameChar(script[at - 1])) &&
        (end == script.size() || !IsNameChar(script[end]))) {
      return true;
    }
  }
  return false;
}

}  // namespace

TreeChange CompareTrees(const npm::Lockfile& before, const npm::Lockfile& after) {
  std::set<std::string> names, versions, scripted;
  for (const npm::LockedEntry& e : before.packages) {
    if (e.link) continue;
    names.insert(e.name);
    versions.insert(absl::StrCat(e.name, "@", e.version));
    if (e.has_install_script) scripted.insert(e.name);
  }
  std::set<std::string> new_names, new_versions, new_scripts;
  std::map<std::string, std::string> deprecated;
  for (const npm::LockedEntry& e : after.packages) {
    if (e.link || e.name.empty()) continue;
    const std::string id = absl::StrCat(e.name, "@", e.version);
    if (names.count(e.name) == 0) new_names.insert(e.name);
    // Where npm installs it: a registry may name a package otherwise in its own metadata (red
    // team, issue 12: "expresz" served as "express" hid from the typosquat check).
    const size_t at = e.key.rfind("node_modules/");
    if (at != std::string::npos) {
      const std::string installed = e.key.substr(at + 13);
      if (!installed.empty() && installed != e.name && names.count(installed) == 0) {
        new_names.insert(installed);
      }
    }
    if (versions.count(id) == 0) {
      if (!e.deprecated.empty()) deprecated[id] = InertLine(e.deprecated, 300);
      new_versions.insert(id);
    }
    if (e.has_install_script && scripted.count(e.name) == 0) new_scripts.insert(id);
  }
  return {Sorted(std::move(new_names)), Sorted(std::move(new_versions)),
          Sorted(std::move(new_scripts)), std::move(deprecated)};
}

std::vector<std::string> KnownNames(
    const npm::Lockfile& before,
    const google::protobuf::RepeatedPtrField<ovvoc::v1::PlannedDependency>& declared) {
  std::set<std::string> names;
  for (const npm::LockedEntry& e : before.packages) {
    if (!e.name.empty()) names.insert(e.name);
  }
  for (const ovvoc::v1::PlannedDependency& d : declared) {
    names.insert(d.name());
    if (!d.package().empty()) names.insert(d.package());
  }
  return Sorted(std::move(names));
}

UseScan FindUses(const std::string& root, const std::vector<std::string>& packages,
                 const std::map<std::string, std::string>& scripts) {
  UseScan scan;
  std::vector<std::string> left(packages.begin(), packages.end());
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) {
    scan.complete = false;
  }
  size_t files = 0, bytes = 0;
  for (; !ec && it != end && !left.empty(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    const fs::file_status status = entry.symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(status)) {
      if (name == "node_modules" || absl::StartsWith(name, ".")) it.disable_recursion_pending();
      continue;
    }
    if (!fs::is_regular_file(status) || !SourceFile(name)) continue;
    if (++files > kMaxScannedFiles || bytes >= kMaxScannedBytes) {
      scan.complete = false;
      break;
    }
    const std::string relative = fs::relative(entry.path(), root, ec).generic_string();
    if (ec) break;
    absl::StatusOr<std::string> text = ReadFileBeneath(root, relative, kMaxScannedFileBytes);
    if (!text.ok()) continue;  // too large, or replaced: not evidence either way
    bytes += text->size();
    for (auto p = left.begin(); p != left.end();) {
      if (Imports(*text, *p)) {
        scan.used_by[*p] = InertLine(relative, 200);
        p = left.erase(p);
      } else {
        ++p;
      }
    }
  }
  if (ec) scan.complete = false;
  for (const std::string& p : left) {
    for (const auto& [script, command] : scripts) {
      if (NamesWord(command, p)) {
        scan.used_by[p] = InertLine(absl::StrCat("package.json scripts.", script), 200);
        break;
      }
    }
  }
  return scan;
}

std::vector<SecurityFinding> ProposalFindings(const FindingInputs& in) {
  std::vector<SecurityFinding> out;
  std::vector<SecurityFinding> made;
  // The high-severity kind first: a result bounded for storage keeps the first findings.
  for (const npm::TyposquatSuspect& suspect :
       npm::FindTyposquatSuspects(in.tree.new_names, in.known_names)) {
    made.push_back(Finding(
        "typosquat", ovvoc::v1::SEVERITY_HIGH, suspect.name,
        absl::StrCat(suspect.name, " is new to the tree and one edit from ", suspect.resembles,
                     suspect.popular ? " (a popular package)" : ", which the repository uses")));
  }
  AddBounded(std::move(made), out);

  made.clear();
  std::set<std::string> reported;
  for (const ovvoc::v1::PlannedDependency* d : in.updates) {
    const ovvoc::v1::ReleaseSignals& s = d->signals();
    if (!s.target_install_script() || (s.current_known() && s.current_install_script())) continue;
    const std::string id =
        absl::StrCat(d->package().empty() ? d->name() : d->package(), "@", d->target());
    reported.insert(id);
    made.push_back(Finding(
        "new-install-script", ovvoc::v1::SEVERITY_MEDIUM, id,
        absl::StrCat(d->name(), " ", d->target(), " runs an install script ",
                     s.current_known() ? absl::StrCat(d->current(), " did not") : "(new)")));
  }
  for (const std::string& id : in.tree.new_install_scripts) {
    if (reported.count(id) > 0) continue;
    made.push_back(Finding("new-install-script", ovvoc::v1::SEVERITY_MEDIUM, id,
                           absl::StrCat(id, " is new to the tree and runs an install script")));
  }
  AddBounded(std::move(made), out);

  made.clear();
  for (const auto& [id, message] : in.tree.new_deprecated) {
    made.push_back(Finding("deprecated", ovvoc::v1::SEVERITY_MEDIUM, id,
                           absl::StrCat(id, " is deprecated: ", message)));
  }
  AddBounded(std::move(made), out);
  return out;
}

namespace {

// The key of the package `path` (from the tree's root, normalized) lies in: its longest prefix
// that `keys` holds; "" for none.
std::string OwnerOf(const std::string& path,
                    const std::map<std::string, const npm::LockedEntry*>& keys) {
  std::string owner;
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    prefix = prefix.empty() ? std::string(part) : absl::StrCat(prefix, "/", part);
    if (keys.count(prefix) > 0) owner = prefix;
  }
  return owner;
}

std::map<std::string, const npm::LockedEntry*> ByKey(const npm::Lockfile& lockfile) {
  std::map<std::string, const npm::LockedEntry*> keys;
  for (const npm::LockedEntry& e : lockfile.packages) keys[e.key] = &e;
  return keys;
}

void Bounded(std::vector<std::string>& list) {
  std::sort(list.begin(), list.end());
  if (list.size() > kMaxFindingsPerKind + 1) list.resize(kMaxFindingsPerKind + 1);
}

}  // namespace

InstallDrift CompareInstalls(const InstalledTree& baseline, const InstalledTree& proposal,
                             const npm::Lockfile& before, const npm::Lockfile& after,
                             InstallStage stage) {
  InstallDrift drift;
  drift.stage = stage;
  const std::map<std::string, const npm::LockedEntry*> was = ByKey(before);
  const std::map<std::string, const npm::LockedEntry*> is = ByKey(after);
  std::set<std::string> unchanged;
  std::set<std::string> same_entry;  // keys the update neither adds nor changes
  bool update_runs_scripts = false;
  for (const auto& [key, entry] : is) {
    auto old = was.find(key);
    const bool same = old != was.end() && old->second->version == entry->version &&
                      old->second->resolved == entry->resolved &&
                      old->second->integrity == entry->integrity;
    if (same) same_entry.insert(key);
    if (!same && entry->has_install_script) update_runs_scripts = true;
    if (same && !old->second->has_install_script && !entry->has_install_script &&
        !old->second->link && !entry->link) {
      unchanged.insert(key);
    }
  }
  if (!baseline.complete || !proposal.complete) {
    drift.unchecked = stage == InstallStage::kBuild || update_runs_scripts;
    return drift;
  }
  for (const auto& [key, fingerprint] : proposal.packages) {
    auto then = baseline.packages.find(key);
    if (then == baseline.packages.end()) {
      if (is.count(key) == 0 || same_entry.count(key) > 0) drift.extraneous.push_back(key);
      continue;
    }
    if (unchanged.count(key) > 0 && then->second != fingerprint) drift.changed.push_back(key);
  }
  for (const auto& [bin, target] : proposal.bins) {
    auto then = baseline.bins.find(bin);
    if (then == baseline.bins.end() || then->second == target) continue;
    // Where the baseline's link led: ".bin"'s directory joined with its target.
    const std::string dir = std::filesystem::path(bin).parent_path().parent_path().string();
    const std::string led =
        (std::filesystem::path(bin).parent_path() / then->second).lexically_normal().string();
    if (!absl::StartsWith(led, dir) || unchanged.count(OwnerOf(led, is)) == 0) continue;
    drift.moved_bins.push_back(absl::StrCat(bin, " -> ", target.empty() ? "(not a link)" : target,
                                            ", was ", then->second));
  }
  if (stage == InstallStage::kInstall) {
    for (const auto& [key, fingerprint] : proposal.hidden) {
      auto then = baseline.hidden.find(key);
      if (then == baseline.hidden.end() || then->second != fingerprint) drift.hidden.push_back(key);
    }
    drift.hidden_explained = update_runs_scripts;
  }
  Bounded(drift.changed);
  Bounded(drift.moved_bins);
  Bounded(drift.extraneous);
  Bounded(drift.hidden);
  return drift;
}

std::vector<SecurityFinding> InstallFindings(const InstallDrift& drift) {
  const bool install = drift.stage == InstallStage::kInstall;
  const char* when = install ? "after the install" : "after the build";
  const char* who =
      install ? "an install script of the update" : "code of the update the build ran";
  std::vector<SecurityFinding> out;
  std::vector<SecurityFinding> made;
  if (drift.unchecked) {
    made.push_back(Finding(
        "install-unchecked", ovvoc::v1::SEVERITY_HIGH, "",
        absl::StrCat("node_modules could not be read whole ", when,
                     " (more than the agent reads: names, bytes or depth), in the baseline or "
                     "with the update, so what ",
                     who, " did to the other packages cannot be checked")));
  }
  for (const std::string& key : drift.changed) {
    made.push_back(Finding(
        "install-tampered", ovvoc::v1::SEVERITY_HIGH, key,
        absl::StrCat(key,
                     " is the version the baseline installed, but its files differ from the "
                     "baseline's ",
                     when, ": ", who, " rewrote them")));
  }
  for (const std::string& moved : drift.moved_bins) {
    made.push_back(
        Finding("install-tampered", ovvoc::v1::SEVERITY_HIGH, "",
                absl::StrCat(moved, " ", when, ": ", who, " moved the program npm scripts run")));
  }
  AddBounded(std::move(made), out);
  made.clear();
  for (const std::string& key : drift.extraneous) {
    made.push_back(Finding("extraneous-package", ovvoc::v1::SEVERITY_HIGH, key,
                           absl::StrCat(key, " was not there ", when,
                                        " in the baseline and the update does not add it: ", who,
                                        " made it, and node would load it")));
  }
  AddBounded(std::move(made), out);
  made.clear();
  for (const std::string& key : drift.hidden) {
    made.push_back(Finding(
        "hidden-module",
        drift.hidden_explained ? ovvoc::v1::SEVERITY_MEDIUM : ovvoc::v1::SEVERITY_HIGH, key,
        absl::StrCat(key, " is new or differs from the baseline's ", when,
                     drift.hidden_explained
                         ? ": an install script of the update may have generated it, or planted "
                           "code there that a package loads"
                         : ", and no install script of the update explains it")));
  }
  AddBounded(std::move(made), out);
  return out;
}

}  // namespace ovvoc::agent::scoring
