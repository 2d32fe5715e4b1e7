// scanRecords(bytes, maxParamsSize, maxConns, stopAtInputEnd): protocol/record_scanner.h's verdict on a byte string,
// for the byte-table tests of the scanner (test/unit/record-scanner.test.ts). Not part of the package's API.
#pragma once
#include <napi.h>

namespace fcgi {

Napi::Value ScanRecords(const Napi::CallbackInfo& info);

}  // namespace fcgi
