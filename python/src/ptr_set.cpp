#include "ptr_set.hpp"

#include <algorithm>
#include <iterator>

#include "py_ref.hpp"

namespace otlp_mmap::py {

void PtrSet::assign(PyObject* set) {
  set_ = set;
  std::fill(std::begin(slots_), std::end(slots_), nullptr);
  Ref it(PyObject_GetIter(set));
  if (!it) {
    PyErr_Clear();
    return;
  }
  size_t used = 0;
  while (Ref item{PyIter_Next(it.get())}) {
    if (!PyUnicode_CheckExact(item.get()) || used >= kSlots / 2) continue;
    PyObject* name = new_ref(item.get());
    PyUnicode_InternInPlace(&name);  // the canonical object; kept for the life of the process
    size_t i = (reinterpret_cast<uintptr_t>(name) >> 4) & (kSlots - 1);
    while (slots_[i] != nullptr && slots_[i] != name) i = (i + 1) & (kSlots - 1);
    if (slots_[i] == nullptr) ++used;
    slots_[i] = name;
  }
  PyErr_Clear();
}

}  // namespace otlp_mmap::py
