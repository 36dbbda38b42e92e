// Early-return helpers for absl::Status / absl::StatusOr. Abseil 20220623 (Debian 12) ships
// none, so these are the project's one copy.
#ifndef OVVOC_COMMON_STATUS_MACROS_H_
#define OVVOC_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define OVVOC_STATUS_CONCAT_INNER_(a, b) a##b
#define OVVOC_STATUS_CONCAT_(a, b) OVVOC_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define OVVOC_RETURN_IF_ERROR(expr) \
  OVVOC_RETURN_IF_ERROR_IMPL_(OVVOC_STATUS_CONCAT_(_ovvoc_status_, __LINE__), expr)

#define OVVOC_RETURN_IF_ERROR_IMPL_(status, expr)       \
  do {                                                  \
    if (::absl::Status status = (expr); !status.ok()) { \
      return status;                                    \
    }                                                   \
  } while (false)

// `lhs` may be a declaration (`auto x`) or an existing lvalue. Evaluates `rexpr` (an
// absl::StatusOr<T>) once; on error returns its status from the enclosing function.
#define OVVOC_ASSIGN_OR_RETURN(lhs, rexpr) \
  OVVOC_ASSIGN_OR_RETURN_IMPL_(OVVOC_STATUS_CONCAT_(_ovvoc_statusor_, __LINE__), lhs, rexpr)

#define OVVOC_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // OVVOC_COMMON_STATUS_MACROS_H_
