#pragma once

// Errors of the storage module, registered as the error category "sy.storage".

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <type_traits>

namespace sy::storage {

enum class Error : int {
  kIo = 1,      // RocksDB reported an I/O error (disk full, permission, fsync failure)
  kCorruption,  // a record or index entry that does not parse, or RocksDB found corruption
  kNotFound,    // no record under that key
  kOverloaded,  // the group-commit queue is full: the caller must shed load, not wait forever
  kClosed,      // the store is shutting down and takes no more writes
  kInvalidArgument,
  kPanProtection,  // the PAN could not be sealed or opened (bad PAN, wrong data key)
};

const boost::system::error_category& StorageCategory() noexcept;

inline boost::system::error_code make_error_code(Error e) noexcept {
  return {static_cast<int>(e), StorageCategory()};
}

template <class T>
using Result = boost::system::result<T>;

inline constexpr Error kFirstError = Error::kIo;
inline constexpr Error kLastError = Error::kPanProtection;

}  // namespace sy::storage

template <>
struct boost::system::is_error_code_enum<sy::storage::Error> : std::true_type {};
