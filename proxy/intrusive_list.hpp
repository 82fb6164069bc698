// A doubly linked list whose links live in the listed objects: entering and leaving it
// allocates nothing and writes a few words (the worker's sessions, its warm keep-alive waits).
// With std::list every session that went idle and came back cost a node's malloc and free
// (bench/causes.md, keepalive-64).
#pragma once

#include <cstddef>

namespace portico::proxy {

template <class T>
struct list_hook {
  explicit list_hook(T* o) : owner(o) {}
  list_hook(const list_hook&) = delete;
  list_hook& operator=(const list_hook&) = delete;

  T* const owner;
  list_hook* prev = nullptr;
  list_hook* next = nullptr;
  bool linked = false;
};

template <class T>
class intrusive_list {
 public:
  using hook = list_hook<T>;
  intrusive_list() = default;
  intrusive_list(const intrusive_list&) = delete;
  intrusive_list& operator=(const intrusive_list&) = delete;

  void push_back(hook& h) {
    h.prev = tail_;
    h.next = nullptr;
    if (tail_ != nullptr) tail_->next = &h;
    else head_ = &h;
    tail_ = &h;
    h.linked = true;
    ++size_;
  }
  void erase(hook& h) {
    if (!h.linked) return;
    if (h.prev != nullptr) h.prev->next = h.next;
    else head_ = h.next;
    if (h.next != nullptr) h.next->prev = h.prev;
    else tail_ = h.prev;
    h.prev = h.next = nullptr;
    h.linked = false;
    --size_;
  }
  hook* front() const { return head_; }
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

 private:
  hook* head_ = nullptr;
  hook* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace portico::proxy
