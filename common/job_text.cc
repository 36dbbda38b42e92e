#include "common/job_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/inert.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace ovvoc {

void MakeInert(google::protobuf::Message& message) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      auto inert = [field](const std::string& value) {
        return field->name() == "log_excerpt" ? InertText(value, kMaxLogExcerpt)
                                              : InertLine(value, kMaxField);
      };
      if (field->is_repeated()) {
        for (int j = 0; j < reflection->FieldSize(message, field); ++j) {
          reflection->SetRepeatedString(&message, field, j,
                                        inert(reflection->GetRepeatedString(message, field, j)));
        }
      } else if (reflection->HasField(message, field) || !field->has_presence()) {
        const std::string value = reflection->GetString(message, field);
        if (!value.empty()) reflection->SetString(&message, field, inert(value));
      }
    } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int j = 0; j < reflection->FieldSize(message, field); ++j) {
          MakeInert(*reflection->MutableRepeatedMessage(&message, field, j));
        }
      } else if (reflection->HasField(message, field)) {
        MakeInert(*reflection->MutableMessage(&message, field));
      }
    }
  }
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes >= (1u << 20))
    return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  if (bytes >= (1u << 10)) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " B");
}

std::string DescribeEgress(const ovvoc::v1::EgressUsage& usage) {
  return absl::StrCat(usage.host(), ":", usage.port(), ": ", usage.connections(),
                      usage.connections() == 1 ? " connection, " : " connections, ",
                      HumanBytes(usage.bytes_down()), " down, ", HumanBytes(usage.bytes_up()),
                      " up",
                      usage.failed() > 0 ? absl::StrCat(", ", usage.failed(), " failed") : "");
}

}  // namespace ovvoc
