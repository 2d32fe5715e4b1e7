{
  "targets": [
    {
      "target_name": "fcgi",
      "sources": [
        "native/accept.cc",
        "native/addon.cc",
        "native/async_server.cc",
        "native/engine.cc",
        "native/environ.cc",
        "native/errors.cc",
        "native/listen.cc",
        "native/options.cc",
        "native/os_read.cc",
        "native/record_guard.cc",
        "native/request.cc",
        "native/request_slot.cc",
        "native/signals.cc",
        "native/stop_signal.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "cflags": ["<!@(node scripts/find-libfcgi.js cflags)"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "libraries": ["<!@(node scripts/find-libfcgi.js libs)"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
