// engine/session_pool.h: per-request model sessions, checked out from a bounded pool.
//
// A model's weights are loaded once and shared; each concurrent request needs a session of its
// own (scratch memory). SessionPool<T> makes sessions on demand up to `capacity`, hands one to a
// request as a Lease (returned when the Lease dies), and makes further requests wait for a free
// one, honouring the request's deadline and cancellation.
//
// Thread-safety: all methods may be called from any thread at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/context.h"
#include "core/status.h"

namespace sieve::engine {

template <typename T>
class SessionPool {
 public:
  using Factory = std::function<Result<std::unique_ptr<T>>()>;

  SessionPool(Factory factory, std::size_t capacity)
      : factory_(std::move(factory)), capacity_(capacity == 0 ? 1 : capacity) {}
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), session_(std::move(other.session_)) {}
    Lease& operator=(Lease&& other) noexcept {
      if (this != &other) {
        Release();
        pool_ = std::exchange(other.pool_, nullptr);
        session_ = std::move(other.session_);
      }
      return *this;
    }
    ~Lease() { Release(); }
    T* get() const { return session_.get(); }
    T& operator*() const { return *session_; }
    T* operator->() const { return session_.get(); }

   private:
    friend class SessionPool;
    Lease(SessionPool* pool, std::unique_ptr<T> session)
        : pool_(pool), session_(std::move(session)) {}
    void Release() {
      if (pool_ != nullptr && session_) pool_->Return(std::move(session_));
      pool_ = nullptr;
    }
    SessionPool* pool_ = nullptr;
    std::unique_ptr<T> session_;
  };

  // A free session, a new one while fewer than `capacity` exist, or the first one returned.
  // Fails with the context's status when it is cancelled or its deadline passes while waiting,
  // or with the factory's error.
  Result<Lease> Acquire(const RequestContext& ctx) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      SIEVE_RETURN_IF_ERROR(ctx.Check());
      if (!free_.empty()) {
        std::unique_ptr<T> session = std::move(free_.back());
        free_.pop_back();
        return Lease(this, std::move(session));
      }
      if (created_ < capacity_) {
        ++created_;
        lock.unlock();
        auto made = factory_();
        if (!made.ok()) {
          std::lock_guard<std::mutex> relock(mutex_);
          --created_;
          returned_.notify_one();
          return made.status();
        }
        return Lease(this, std::move(made).value());
      }
      // Wake up now and then to notice cancellation (a stop_token has no condition variable).
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
      if (ctx.deadline() && *ctx.deadline() < until) until = *ctx.deadline();
      returned_.wait_until(lock, until);
    }
  }

  std::size_t created() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return created_;
  }
  std::size_t capacity() const { return capacity_; }

 private:
  void Return(std::unique_ptr<T> session) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      free_.push_back(std::move(session));
    }
    returned_.notify_one();
  }

  Factory factory_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<T>> free_;
  std::size_t created_ = 0;
};

}  // namespace sieve::engine
