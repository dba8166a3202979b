// Python values -> the core's *View structs, for the Writer's record_* calls (strict: a bad
// argument raises and nothing is written).
//
// Every record_* call runs in the same order, so that a rejected call writes nothing:
//   1. normalise: anything that may run Python code (a non-dict Mapping, a span context
//      given as a custom mapping, a body with nested containers) is turned into objects
//      the call owns, kept alive in the Scratch;
//   2. convert (no Python code runs): validate every value and build views that borrow
//      the bytes of str/bytes objects; keys are only collected;
//   3. resolve keys: dictionary references through the writer's key cache or intern();
//   4. write the record; 5. remember newly interned keys in the cache.
// Views borrow from Python objects that the caller's arguments (or the Scratch) keep
// alive for the whole call, and step 2 runs no Python code that could free them.
#pragma once

#include <Python.h>

#include <span>

#include "attr_convert.hpp"
#include "common.hpp"
#include "key_cache.hpp"
#include "otlp_mmap/messages.hpp"
#include "scratch.hpp"

namespace otlp_mmap::py {

// ------------------------------------------------------------------ step 1: normalise

// None -> nullptr; a dict -> itself; another Mapping -> a dict copy owned by `s`.
// TypeError naming `what` for anything else.
PyObject* as_dict(PyObject* attributes, Scratch& s, const char* what);

// A span context mapping {"trace_id", "span_id", "flags"} or None.
SpanContextView span_context_arg(PyObject* obj, Scratch& s);

// A sequence of link mappings, normalised: returns a tuple of dicts owned by `s`.
PyObject* normalise_links(PyObject* links, Scratch& s);

// ------------------------------------------------------------------ step 2: convert

// Links from normalise_links().
std::span<const LinkView> convert_links(PyObject* links, Scratch& s);

}  // namespace otlp_mmap::py
