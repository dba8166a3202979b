#include "retry_after.hpp"

#include <google/protobuf/unknown_field_set.h>

#include <array>
#include <cstdio>
#include <string>

namespace otlp_mmap::collector::detail {

namespace {

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

int month_index(std::string_view m) {
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (m == kMonths[i]) return static_cast<int>(i) + 1;
  }
  return 0;
}

bool is_day_name(std::string_view d) {
  static constexpr std::array<std::string_view, 14> kDays = {"Mon",      "Tue",    "Wed",      "Thu",     "Fri",
                                                             "Sat",      "Sun",    "Monday",   "Tuesday", "Wednesday",
                                                             "Thursday", "Friday", "Saturday", "Sunday"};
  return std::find(kDays.begin(), kDays.end(), d) != kDays.end();
}

// "hh:mm:ss" -> seconds of the day, or -1.
int parse_time_of_day(std::string_view t) {
  if (t.size() != 8 || t[2] != ':' || t[5] != ':') return -1;
  const std::string_view h = t.substr(0, 2), m = t.substr(3, 2), s = t.substr(6, 2);
  if (!all_digits(h) || !all_digits(m) || !all_digits(s)) return -1;
  const int hh = to_int(h), mm = to_int(m), ss = to_int(s);
  if (hh > 23 || mm > 59 || ss > 60) return -1;
  return hh * 3600 + mm * 60 + ss;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (all_digits(value)) {
    // delay-seconds; absurd values are capped (a day), they only delay giving up.
    if (value.size() > 6) return std::chrono::milliseconds(std::chrono::hours(24));
    return std::chrono::milliseconds(std::min<int64_t>(to_int(value), 86400) * 1000);
  }
  // HTTP-date: split on spaces, ',' and '-'.
  std::vector<std::string_view> tok;
  size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == ',' || value[i] == '-')) ++i;
    const size_t b = i;
    while (i < value.size() && value[i] != ' ' && value[i] != ',' && value[i] != '-') ++i;
    if (i > b) tok.push_back(value.substr(b, i - b));
  }
  int day = 0, month = 0, year = 0, secs = -1;
  if (tok.size() == 6 && tok[5] == "GMT" && is_day_name(tok[0])) {
    // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" or RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT"
    if (!all_digits(tok[1]) || tok[1].size() > 2 || !all_digits(tok[3])) return std::nullopt;
    day = to_int(tok[1]);
    month = month_index(tok[2]);
    if (tok[3].size() == 4) {
      year = to_int(tok[3]);
    } else if (tok[3].size() == 2) {
      const int yy = to_int(tok[3]);
      year = yy < 70 ? 2000 + yy : 1900 + yy;
    } else {
      return std::nullopt;
    }
    secs = parse_time_of_day(tok[4]);
  } else if (tok.size() == 5 && is_day_name(tok[0])) {
    // asctime "Sun Nov  6 08:49:37 1994"
    if (!all_digits(tok[2]) || tok[2].size() > 2 || !all_digits(tok[4]) || tok[4].size() != 4) return std::nullopt;
    month = month_index(tok[1]);
    day = to_int(tok[2]);
    secs = parse_time_of_day(tok[3]);
    year = to_int(tok[4]);
  } else {
    return std::nullopt;
  }
  if (month == 0 || secs < 0) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  const auto when = std::chrono::sys_days(ymd) + std::chrono::seconds(secs);
  const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(when - now);
  if (delay.count() < 0) return std::chrono::milliseconds(0);
  return std::min<std::chrono::milliseconds>(delay, std::chrono::hours(24));
}

// ---- google.rpc.Status ------------------------------------------------------------------------

namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

bool parse_fields(std::string_view bytes, UnknownFieldSet& out) {
  return out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

const UnknownField* find_field(const UnknownFieldSet& set, int number, UnknownField::Type type) {
  for (int i = 0; i < set.field_count(); ++i) {
    if (set.field(i).number() == number && set.field(i).type() == type) return &set.field(i);
  }
  return nullptr;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_grpc_retry_info(std::string_view status_details) {
  // google.rpc.Status { repeated google.protobuf.Any details = 3; }
  // Any { string type_url = 1; bytes value = 2; }
  // RetryInfo { google.protobuf.Duration retry_delay = 1; }  Duration { int64 seconds = 1; int32 nanos = 2; }
  UnknownFieldSet status;
  if (status_details.empty() || !parse_fields(status_details, status)) return std::nullopt;
  for (int i = 0; i < status.field_count(); ++i) {
    const UnknownField& f = status.field(i);
    if (f.number() != 3 || f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    UnknownFieldSet any;
    if (!parse_fields(f.length_delimited(), any)) continue;
    const UnknownField* type_url = find_field(any, 1, UnknownField::TYPE_LENGTH_DELIMITED);
    if (type_url == nullptr) continue;
    const std::string& url = type_url->length_delimited();
    constexpr std::string_view kType = "google.rpc.RetryInfo";
    if (url.size() < kType.size() || url.compare(url.size() - kType.size(), kType.size(), kType) != 0) continue;
    std::chrono::milliseconds delay{0};
    const UnknownField* value = find_field(any, 2, UnknownField::TYPE_LENGTH_DELIMITED);
    UnknownFieldSet retry_info, duration;
    if (value != nullptr && parse_fields(value->length_delimited(), retry_info)) {
      const UnknownField* d = find_field(retry_info, 1, UnknownField::TYPE_LENGTH_DELIMITED);
      if (d != nullptr && parse_fields(d->length_delimited(), duration)) {
        const UnknownField* s = find_field(duration, 1, UnknownField::TYPE_VARINT);
        const UnknownField* n = find_field(duration, 2, UnknownField::TYPE_VARINT);
        const auto seconds = static_cast<int64_t>(s ? s->varint() : 0);
        const auto nanos = static_cast<int32_t>(n ? n->varint() : 0);
        if (seconds > 0 || nanos > 0) {
          delay = std::chrono::milliseconds(std::min<int64_t>(seconds, 86400) * 1000 + nanos / 1000000);
        }
      }
    }
    return delay;  // RetryInfo present (possibly without a delay: retry with backoff)
  }
  return std::nullopt;
}

std::string parse_rpc_status_message(std::string_view status_bytes) {
  UnknownFieldSet status;
  if (status_bytes.empty() || !parse_fields(status_bytes, status)) return {};
  const UnknownField* m = find_field(status, 2, UnknownField::TYPE_LENGTH_DELIMITED);
  return m ? m->length_delimited() : std::string();
}

}  // namespace otlp_mmap::collector::detail
