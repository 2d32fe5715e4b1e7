{
  "variables": {
    # Empty: link the libfcgi that scripts/find-libfcgi.js finds (system, LIBFCGI_PREFIX or pkg-config), shared.
    # A directory with include/ and lib/libfcgi.a (PIC): link that statically, as scripts/build-prebuilt.sh does.
    "libfcgi_static%": ""
  },
  "targets": [
    {
      # The relay mod_fcgid and others spawn in place of Node (native/relay/relay.c). Static where the compiler can
      # (scripts/static-ldflag.js): it starts faster and costs less memory, and the prebuilt set's must run anywhere.
      "target_name": "fcgi-relay",
      "type": "executable",
      "sources": ["native/relay/relay.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "ldflags": ["<!@(node scripts/static-ldflag.js)"]
    },
    {
      "target_name": "fcgi",
      "sources": [
        "native/accept_loop/blocking_reader.cc",
        "native/accept_loop/accept_loop.cc",
        "native/accept_loop/request_slot.cc",
        "native/accept_loop/stop_signal.cc",
        "native/accept_loop/waits.cc",
        "native/addon.cc",
        "native/core/admission.cc",
        "native/core/dup2.cc",
        "native/core/environ.cc",
        "native/core/errors.cc",
        "native/core/js_bytes.cc",
        "native/core/libfcgi_request.cc",
        "native/core/listen.cc",
        "native/core/options.cc",
        "native/core/param_names.cc",
        "native/core/record_guard.cc",
        "native/core/replace_process.cc",
        "native/core/scan_records.cc",
        "native/core/signals.cc",
        "native/event_loop/connection.cc",
        "native/event_loop/loop_server.cc",
        "native/event_loop/relay_listener.cc",
        "native/libfcgi_io.cc",
        "native/protocol/record_scanner.cc",
        "native/protocol/records.cc"
      ],
      "include_dirs": ["native", "<!(node -p \"require('node-addon-api').include_dir\")"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [
        ["libfcgi_static==''", {
          "cflags": ["<!@(node scripts/find-libfcgi.js cflags)"],
          "libraries": ["<!@(node scripts/find-libfcgi.js libs)"]
        }, {
          # native/libfcgi_io.cc says why libfcgi's I/O is wired in with --wrap here, native/core/glibc_compat.cc what
          # the other wraps are for (loading on glibc 2.28).
          "sources": ["native/core/glibc_compat.cc"],
          "defines": ["LIBFCGI_WRAP_OS_READ"],
          "cflags": ["-fvisibility=hidden"],
          "include_dirs": ["<(libfcgi_static)/include"],
          "libraries": ["<(libfcgi_static)/lib/libfcgi.a"],
          "ldflags": [
            "-static-libstdc++",
            "-static-libgcc",
            "-Wl,--version-script=<(module_root_dir)/native/prebuilt.map",
            "-Wl,--wrap=OS_Read,--wrap=OS_Write,--wrap=OS_IpcClose",
            "-Wl,--wrap=pthread_create,--wrap=pthread_join,--wrap=pthread_detach,--wrap=pthread_once,--wrap=pthread_setname_np",
            "-Wl,--wrap=__pthread_key_create,--wrap=__libc_single_threaded,--wrap=arc4random",
            "-Wl,--wrap=strerrorname_np,--wrap=_dl_find_object"
          ]
        }]
      ]
    }
  ]
}
