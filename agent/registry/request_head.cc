#include "agent/registry/request_head.h"

#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/registry/address_policy.h"
#include "common/status_macros.h"

namespace ovvoc::agent::registry {
namespace {

constexpr size_t kMaxMethodLength = 32;

absl::Status Invalid(absl::string_view reason) { return absl::InvalidArgumentError(reason); }

// RFC 9110 tchar.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

bool HasControl(absl::string_view s, bool allow_tab) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && !(allow_tab && c == '\t')) || u == 0x7f) return true;
  }
  return false;
}

struct Field {
  absl::string_view name;
  absl::string_view value;
};

absl::StatusOr<Field> ParseField(absl::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') return Invalid("folded header line");
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return Invalid("header line without a colon");
  Field field{line.substr(0, colon), absl::StripAsciiWhitespace(line.substr(colon + 1))};
  if (!IsToken(field.name)) return Invalid("malformed header name");
  if (HasControl(field.value, /*allow_tab=*/true)) return Invalid("control character in header");
  return field;
}

absl::StatusOr<int> ParsePort(absl::string_view text) {
  int port = 0;
  if (text.empty() || text.size() > 5 || !absl::c_all_of(text, absl::ascii_isdigit) ||
      !absl::SimpleAtoi(text, &port) || port < 1 || port > 65535) {
    return Invalid("bad port");
  }
  return port;
}

}  // namespace

absl::StatusOr<Authority> ParseAuthority(absl::string_view authority, int default_port) {
  if (absl::StrContains(authority, '@')) return Invalid("userinfo in authority");
  absl::string_view host_part = authority;
  absl::string_view port_part;
  bool has_port = false;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return Invalid("unterminated IPv6 literal");
    host_part = authority.substr(0, close + 1);
    absl::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Invalid("junk after IPv6 literal");
      port_part = rest.substr(1);
      has_port = true;
    }
  } else if (size_t colon = authority.rfind(':'); colon != absl::string_view::npos) {
    host_part = authority.substr(0, colon);
    port_part = authority.substr(colon + 1);
    has_port = true;
    if (absl::StrContains(host_part, ':')) return Invalid("bad host: IPv6 needs brackets");
  }
  Authority out;
  if (has_port) {
    OVVOC_ASSIGN_OR_RETURN(out.port, ParsePort(port_part));
  } else if (default_port > 0) {
    out.port = default_port;
  } else {
    return Invalid("missing port");
  }
  OVVOC_ASSIGN_OR_RETURN(out.host, NormalizeHost(host_part));
  return out;
}

absl::StatusOr<std::pair<Authority, std::string>> ParseHttpUrl(absl::string_view target) {
  if (absl::StartsWith(target, "/")) return Invalid("origin-form request sent to a proxy");
  if (absl::StartsWithIgnoreCase(target, "https://")) {
    return Invalid("https:// URLs must use CONNECT");
  }
  if (!absl::StartsWithIgnoreCase(target, "http://")) {
    return Invalid("request target is not an http:// URL");
  }
  target.remove_prefix(7);
  size_t end = target.find_first_of("/?#");
  absl::string_view authority = target.substr(0, end);
  absl::string_view rest = end == absl::string_view::npos ? "" : target.substr(end);
  if (absl::StrContains(authority, '@')) return Invalid("userinfo in URL");
  OVVOC_ASSIGN_OR_RETURN(Authority parsed, ParseAuthority(authority, 80));
  rest = rest.substr(0, rest.find('#'));
  return std::make_pair(std::move(parsed),
                        absl::StartsWith(rest, "/") ? std::string(rest) : absl::StrCat("/", rest));
}

std::vector<std::string> RequestHead::Values(absl::string_view lower_name) const {
  std::vector<std::string> values;
  for (const auto& [name, value] : fields) {
    if (name == lower_name) values.push_back(value);
  }
  return values;
}

bool RequestHead::KeepAlive() const {
  bool keep = version == "HTTP/1.1";
  for (const std::string& value : Values("connection")) {
    for (absl::string_view token : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      token = absl::StripAsciiWhitespace(token);
      if (absl::EqualsIgnoreCase(token, "close")) return false;
      if (absl::EqualsIgnoreCase(token, "keep-alive")) keep = true;
    }
  }
  return keep;
}

std::optional<size_t> FindHeadEnd(absl::string_view buffer) {
  size_t crlf = buffer.find("\n\r\n");
  size_t lf = buffer.find("\n\n");
  if (crlf == absl::string_view::npos && lf == absl::string_view::npos) return std::nullopt;
  if (lf == absl::string_view::npos || (crlf != absl::string_view::npos && crlf < lf)) {
    return crlf + 3;
  }
  return lf + 2;
}

absl::StatusOr<RequestHead> ParseRequestHead(absl::string_view head) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  RequestHead request;
  absl::string_view request_line;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    absl::ConsumeSuffix(&line, "\r");
    if (HasControl(line, /*allow_tab=*/true)) return Invalid("control character in request head");
    if (i == 0) {
      request_line = line;
    } else if (!line.empty()) {
      OVVOC_ASSIGN_OR_RETURN(Field field, ParseField(line));
      request.fields.emplace_back(absl::AsciiStrToLower(field.name), std::string(field.value));
    }
  }
  std::vector<absl::string_view> parts = absl::StrSplit(request_line, ' ');
  if (parts.size() != 3 || parts[1].empty()) return Invalid("malformed request line");
  if (!IsToken(parts[0]) || parts[0].size() > kMaxMethodLength) return Invalid("bad method");
  if (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0") return Invalid("unsupported HTTP version");
  request.method = std::string(parts[0]);
  request.target = std::string(parts[1]);
  request.version = std::string(parts[2]);
  return request;
}

absl::StatusOr<std::string> NormalizeHost(absl::string_view host) {
  if (absl::ConsumePrefix(&host, "[")) {
    if (!absl::ConsumeSuffix(&host, "]")) return Invalid("unterminated IPv6 literal");
    std::optional<IpAddress> v6 = IpAddress::Parse(host);
    if (!v6 || v6->family != IpAddress::Family::kV6) return Invalid("bad IPv6 literal");
    return v6->ToString();
  }
  if (std::optional<IpAddress> ip = IpAddress::Parse(host)) return ip->ToString();
  absl::ConsumeSuffix(&host, ".");
  if (host.empty() || host.size() > 253) return Invalid("bad host name");
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.size() > 63) return Invalid("bad host name");
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return Invalid("bad host name");
      }
    }
  }
  return absl::AsciiStrToLower(host);
}

std::string HostPort(absl::string_view host, int port) {
  if (host.find(':') != absl::string_view::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::string MethodForLog(absl::string_view head) {
  absl::string_view method = head.substr(0, head.find_first_of(" \r\n"));
  if (!IsToken(method) || method.size() > kMaxMethodLength) return "";
  return std::string(method);
}

}  // namespace ovvoc::agent::registry
