// The decoding constraint a chat request asks for: JSON mode, a JSON schema (response_format
// json_schema), or tool calls (tool_choice "required" / named, strict tools).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "chat/protocol.h"
#include "runtime/json_constraint.h"
#include "runtime/scheduler.h"
#include "server/api.h"
#include "tokenizer/tokenizer.h"

namespace qs::server {

// Sets *out (null when nothing is constrained). `use_tools`: tools are in the prompt (tool_choice
// is not "none"). `vocab`: the vocabulary's bytes, built on first use. A grammar the request's
// schemas cannot give is a 400.
std::optional<ApiError> MakeChatConstraint(const ChatRequest& r, const chat::ChatProtocol& protocol,
                                           const Tokenizer& tok,
                                           const std::function<std::shared_ptr<const VocabBytes>()>& vocab,
                                           const std::vector<int32_t>& eos_ids, bool use_tools,
                                           std::shared_ptr<TokenConstraint>* out);

}  // namespace qs::server
