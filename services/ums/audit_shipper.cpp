#include "services/ums/audit_shipper.hpp"

#include <algorithm>

namespace shadowlink::ums {

void audit_shipper::start(std::string latest) { latest_ = std::move(latest); }

void audit_shipper::written(std::string_view lines) {
  std::lock_guard lock(m_);
  if (read_again_) return;  // the next shipment reads them from the file
  for (std::size_t at = 0; at < lines.size();) {
    auto end = lines.find('\n', at);
    if (end == std::string_view::npos) end = lines.size();
    if (end > at) waiting_.emplace_back(lines.substr(at, end - at));
    at = end + 1;
  }
  if (waiting_.size() > max_waiting) {
    waiting_.clear();
    read_again_ = true;
  }
}

audit_shipper::batch audit_shipper::take() {
  std::lock_guard lock(m_);
  batch b;
  if (read_again_) {
    waiting_.clear();
    read_again_ = false;
    b.read_again = true;
    return b;
  }
  const auto n = std::min(waiting_.size(), per_shipment);
  b.lines.assign(std::make_move_iterator(waiting_.begin()), std::make_move_iterator(waiting_.begin() + static_cast<std::ptrdiff_t>(n)));
  waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(n));
  return b;
}

void audit_shipper::shipped(const std::string& latest, bool full) {
  if (latest > latest_) latest_ = latest;
  if (!full) return;
  std::lock_guard lock(m_);
  waiting_.clear();  // (in the file: the next reading finds them)
  read_again_ = true;
}

void audit_shipper::failed() {
  std::lock_guard lock(m_);
  waiting_.clear();
  read_again_ = true;
}

}  // namespace shadowlink::ums
