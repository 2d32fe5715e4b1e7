# Built by scripts/build-addon.js (`libfcgi build`, `npm run build`), which runs node-gyp in this folder and puts
# the two products in the package's build/Release/. It lives here, not at the package's root, so that no package
# manager (npm's implicit `node-gyp rebuild`, pnpm, yarn, bun) takes the package for one that must build on install.
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
      "sources": ["relay/relay.c", "relay/launcher.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "ldflags": ["<!@(node ../scripts/static-ldflag.js)"]
    },
    {
      "target_name": "fcgi",
      "sources": [
        "accept_loop/accept_loop.cc",
        "accept_loop/blocking_reader.cc",
        "accept_loop/request_slot.cc",
        "accept_loop/stop_signal.cc",
        "accept_loop/waits.cc",
        "addon.cc",
        "event_loop/connection.cc",
        "event_loop/connection_request.cc",
        "event_loop/connection_socket.cc",
        "event_loop/loop_server.cc",
        "params/param_copy.cc",
        "params/param_names.cc",
        "js/bytes.cc",
        "js/errors.cc",
        "js/options.cc",
        "libfcgi/init.cc",
        "libfcgi/request.cc",
        "overrides/libfcgi_io.cc",
        "process/dup2.cc",
        "process/environ.cc",
        "process/replace_process.cc",
        "protocol/record_guard.cc",
        "protocol/record_scanner.cc",
        "protocol/records.cc",
        "protocol/scan_records.cc",
        "relay/relay_listener.cc",
        "socket/admission.cc",
        "socket/listen.cc"
      ],
      "include_dirs": [".", "<!(node -p \"require('node-addon-api').include_dir\")"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [
        ["libfcgi_static==''", {
          "cflags": ["<!@(node ../scripts/find-libfcgi.js cflags)"],
          "libraries": ["<!@(node ../scripts/find-libfcgi.js libs)"]
        }, {
          # overrides/libfcgi_io.cc says why libfcgi's I/O is wired in with --wrap here, overrides/glibc_compat.cc what
          # the other wraps are for (loading on glibc 2.28).
          "sources": ["overrides/glibc_compat.cc"],
          "defines": ["LIBFCGI_WRAP_OS_READ"],
          "cflags": ["-fvisibility=hidden"],
          "include_dirs": ["<(libfcgi_static)/include"],
          "libraries": ["<(libfcgi_static)/lib/libfcgi.a"],
          "ldflags": [
            "-static-libstdc++",
            "-static-libgcc",
            "-Wl,--version-script=<(module_root_dir)/prebuilt.map",
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
