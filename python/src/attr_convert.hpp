// The one conversion of Python attributes and values (log bodies) into the core's views,
// with two policies:
//
//  * strict (the Writer's record_* calls): a bad key or value raises TypeError/ValueError
//    naming it, before anything is written. The caller has done step 1 first (to_views.hpp):
//    the attributes are a dict, a body is normalised, so no Python code runs while views are
//    made;
//  * lenient (the SDK types, resources and scopes of the providers): a bad key or value is
//    dropped, counted in the SDK's counters and warned about once, never raised; limits cut
//    the number of attributes and the length of strings; any mapping is accepted. An any-value
//    object of another type whose type defines __str__ or __repr__ is kept as its str(), as
//    the official SDK (1.45) keeps it.
//
// and two shapes of value:
//
//  * attribute: str, bool, int (64-bit), float, bytes (or bytearray), or a list/tuple of
//    one of those (homogeneous), as OTLP attribute values are usually restricted;
//  * any value: the above, None, and lists and mappings of any values, nested (AnyValue).
//
// Views borrow the bytes of str/bytes objects; whatever a conversion had to make (copies of
// mappings, normalised values, str() of a body) is kept alive by the Scratch.
#pragma once

#include <Python.h>

#include <cstdint>
#include <span>

#include "otlp_mmap/messages.hpp"
#include "ptr_set.hpp"
#include "scratch.hpp"

namespace otlp_mmap::py {

enum class Policy : uint8_t { kStrict, kLenient };
enum class Shape : uint8_t { kAttribute, kAnyValue };

struct Rules {
  Policy policy = Policy::kStrict;
  Shape shape = Shape::kAttribute;
  int64_t max_count = -1;        // lenient: attributes kept at most; -1 unlimited
  int64_t max_len = -1;          // lenient: longest string value in characters; -1 unlimited
  const PtrSet* skip = nullptr;  // lenient: keys left out silently
};

// The Writer's attributes.
inline constexpr Rules kStrictAttributes{Policy::kStrict, Shape::kAttribute};
// The Writer's log bodies.
inline constexpr Rules kStrictBody{Policy::kStrict, Shape::kAnyValue};
// The SDK's attributes and bodies (spans, events, links, measurements, log records).
inline constexpr Rules lenient_any(int64_t max_count = -1, int64_t max_len = -1, const PtrSet* skip = nullptr) {
  return Rules{Policy::kLenient, Shape::kAnyValue, max_count, max_len, skip};
}
// Resource and scope attributes of the SDK's providers.
inline constexpr Rules kLenientAttributes{Policy::kLenient, Shape::kAttribute};

// Attributes as key/value views. Strict: `attrs` is nullptr or a dict (to_views.hpp's
// as_dict). Lenient: None/nullptr or any mapping; at most `max_count - already` are kept;
// the attributes dropped (invalid or beyond the limit) are added to `*dropped`.
std::span<const KeyValueView> convert_attributes(PyObject* attrs, Scratch& s, const Rules& rules,
                                                 uint32_t* dropped = nullptr, int64_t already = 0);

// A log body as an AnyValue view. Strict: `body` comes from normalise_body() and is
// converted or raised about. Lenient: any object; what is not an AnyValue is recorded as its
// str() (as the official SDK's logging bridge does); false (no error set) when not even that
// could be made.
bool convert_body(PyObject* body, Scratch& s, const Rules& rules, AnyValueView& out);

// Strict step 1 of a body: a copy made of tuples and dicts owned by `s`, so that converting
// it runs no Python code (a list could change, a mapping runs its own methods). Raises for
// what is not an AnyValue (a mapping with keys that are not str, nesting beyond the reader's
// limit, an unsupported type). Returns a borrowed reference (kept alive by the caller or `s`).
PyObject* normalise_body(PyObject* body, Scratch& s);

// Lenient, one value as Span.set_attribute keeps it: a new reference to the value itself or
// to a normalised copy (sequences become tuples, mappings dicts, bytearray bytes), or nullptr
// (no error set) when it is not an AnyValue.
PyObject* clean_value(PyObject* value);

// Lenient, as Python objects (a ReadableSpan's attributes): adds to the dict `out` the
// attributes of `attrs` (any mapping or None) that conversion keeps, normalised as
// clean_value() does and with strings cut to `max_len` characters, while `out` has fewer than
// `max_count` keys (-1: no limit; keys already in `out` are replaced). Never leaves an error set.
void clean_attributes_into(PyObject* out, PyObject* attrs, int64_t max_count, int64_t max_len);

// Imports what conversion needs (collections.abc.Sequence); at module init.
void init_attr_convert();

}  // namespace otlp_mmap::py
