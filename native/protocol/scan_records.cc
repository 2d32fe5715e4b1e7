#include "protocol/scan_records.h"

#include <fastcgi.h>

#include <string>

#include "protocol/record_scanner.h"

namespace fcgi {

namespace {

const char* ViolationName(protocol::Violation violation) {
  switch (violation) {
    case protocol::Violation::kNone:
      return nullptr;
    case protocol::Violation::kUnsupportedVersion:
      return "unsupportedVersion";
    case protocol::Violation::kParamsTooLarge:
      return "paramsTooLarge";
  }
  return nullptr;
}

}  // namespace

Napi::Value ScanRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "scanRecords: bytes must be a Uint8Array");
  auto bytes = info[0].As<Napi::Uint8Array>();
  protocol::RecordScanner scanner(info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::Number>().Int32Value());
  bool eventLoopWay = info[3].ToBoolean().Value();
  scanner.StopAtInputEnd(eventLoopWay);
  scanner.HideAborts(eventLoopWay);
  std::string shown(bytes.ByteLength() + FCGI_HEADER_LEN, '\0');
  size_t consumed = 0;
  ssize_t count = scanner.Scan(bytes.Data(), bytes.ByteLength(), &shown[0], &consumed);
  shown.resize(count > 0 ? static_cast<size_t>(count) : 0);
  const auto* rest = bytes.Data() + consumed;

  Napi::Object verdict = Napi::Object::New(env);
  verdict.Set("shown", Napi::Buffer<char>::Copy(env, shown.data(), shown.size()));
  verdict.Set("consumed", Napi::Number::New(env, static_cast<double>(consumed)));
  verdict.Set("replies", Napi::Buffer<char>::Copy(env, scanner.replies().data(), scanner.replies().size()));
  const char* violation = ViolationName(scanner.violation());
  verdict.Set("violation", violation ? Napi::Value(Napi::String::New(env, violation)) : env.Null());
  verdict.Set("message", Napi::String::New(env, scanner.violationMessage()));
  verdict.Set("requestId", Napi::Number::New(env, scanner.requestId()));
  verdict.Set("paramsEnded", Napi::Boolean::New(env, scanner.paramsEnded()));
  verdict.Set("inputEnded", Napi::Boolean::New(env, scanner.inputEnded()));
  verdict.Set("abortSeen", Napi::Boolean::New(env, scanner.abortSeen()));
  verdict.Set("abortFollows", Napi::Boolean::New(env, scanner.AbortFollows(rest, bytes.ByteLength() - consumed)));
  verdict.Set("heldHeaderBytes", Napi::Number::New(env, static_cast<double>(scanner.heldHeaderBytes())));
  return verdict;
}

}  // namespace fcgi
