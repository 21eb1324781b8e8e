#pragma once
// Which UP link speaks for which device, for as long as that link lives. The UMS (devices on its
// own UP endpoint, or behind a gateway's link) and the gateway (its verified devices) both keep one.
//
// Only verified links are registered: an unverified link can never displace a device. A
// registration is an RAII handle held by the coroutine (or the gateway link) that serves the
// device; destroying it removes the entry only if that entry is still its own, so a replaced
// link's late exit cannot take the device's newer link offline, and nothing can re-create an
// entry without attaching a live link. Every registration has a link id, never reused, so that
// answers (a gateway's verdict, a device going offline) can be bound to the link they are about.
#include "protocol/up_link.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace shadowlink::up {

using link_id = std::uint64_t;

template <class Info>
class link_registry {
 public:
  link_registry() = default;
  link_registry(const link_registry&) = delete;
  link_registry& operator=(const link_registry&) = delete;

  struct entry {
    link* l = nullptr;
    link_id id = 0;
    Info info{};
    std::string on_replace;  // why the link is closed when another replaces it; empty: a shared link, kept
  };

  class registration {
   public:
    registration() = default;
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
    registration(registration&& o) noexcept { *this = std::move(o); }
    registration& operator=(registration&& o) noexcept {
      if (this != &o) {
        reset();
        r_ = std::exchange(o.r_, {});
        device_ = std::move(o.device_);
        id_ = std::exchange(o.id_, 0);
      }
      return *this;
    }
    ~registration() { reset(); }

    link_id id() const { return id_; }
    const std::string& device() const { return device_; }
    // Still the device's link (not replaced, not removed)?
    bool current() const {
      auto r = r_.lock();
      return r && (*r)->id_of(device_) == id_;
    }
    void reset() {
      if (auto r = std::exchange(r_, {}).lock()) (*r)->remove(device_, id_);
      id_ = 0;
    }

   private:
    friend class link_registry;
    registration(std::weak_ptr<link_registry*> r, std::string device, link_id id) : r_(std::move(r)), device_(std::move(device)), id_(id) {}
    // Weak: a registration held by a coroutine frame that outlives the registry (a forced
    // shutdown destroys the services before the io_context's frames) does nothing then.
    std::weak_ptr<link_registry*> r_;
    std::string device_;
    link_id id_ = 0;
  };

  // Called when an entry leaves (its registration ended, not when it was replaced).
  std::function<void(const std::string& device, const entry& gone)> on_removed;
  // Called when a link becomes the device's (a new one, or one replacing another).
  std::function<void(const std::string& device, const entry& now)> on_attached;

  // A fresh id for a link that is not (yet) registered, e.g. while its hello is being verified.
  link_id next_id() { return next_++; }

  // Makes `l` the device's link. The previous link of the device, if any, is closed with the
  // reason given when *it* was attached (`on_replace`); a link that carries other devices too (a
  // gateway's, attached with an empty reason) is kept. `id` may come from next_id(); 0 draws one.
  [[nodiscard]] registration attach(const std::string& device, link& l, Info info, std::string on_replace, link_id id = 0) {
    if (id == 0) id = next_id();
    auto [it, fresh] = entries_.try_emplace(device);
    if (!fresh && it->second.l != &l && !it->second.on_replace.empty()) it->second.l->close(it->second.on_replace);
    it->second = entry{&l, id, std::move(info), std::move(on_replace)};
    if (on_attached) on_attached(device, it->second);
    return registration(self_, device, id);
  }

  const entry* find(std::string_view device) const {
    auto it = entries_.find(device);
    return it == entries_.end() ? nullptr : &it->second;
  }
  entry* find(std::string_view device) {
    auto it = entries_.find(device);
    return it == entries_.end() ? nullptr : &it->second;
  }
  link* link_of(std::string_view device) const {
    auto* e = find(device);
    return e ? e->l : nullptr;
  }
  link_id id_of(std::string_view device) const {
    auto* e = find(device);
    return e ? e->id : 0;
  }
  std::size_t size() const { return entries_.size(); }
  const std::map<std::string, entry, std::less<>>& entries() const { return entries_; }

  void close_all(std::string_view reason) {
    for (auto& [device, e] : entries_) e.l->close(reason);  // closing twice is harmless
  }

 private:
  void remove(const std::string& device, link_id id) {
    auto it = entries_.find(device);
    if (it == entries_.end() || it->second.id != id) return;
    entry gone = std::move(it->second);
    entries_.erase(it);
    if (on_removed) on_removed(device, gone);
  }

  std::map<std::string, entry, std::less<>> entries_;
  link_id next_ = 1;
  std::shared_ptr<link_registry*> self_ = std::make_shared<link_registry*>(this);  // (not copyable or movable)
};

}  // namespace shadowlink::up
