{
  "targets": [
    {
      "target_name": "pidvisor",
      "sources": [
        "native/src/addon.cc",
        "native/src/clone.cc",
        "native/src/dumpable.cc",
        "native/src/env_state.cc",
        "native/src/errors.cc",
        "native/src/exit_poller.cc",
        "native/src/fd_layout.cc",
        "native/src/file_lock.cc",
        "native/src/handle_table.cc",
        "native/src/keeper_channel.cc",
        "native/src/limits.cc",
        "native/src/loop_watch.cc",
        "native/src/log_frame.cc",
        "native/src/notify_socket.cc",
        "native/src/orphans.cc",
        "native/src/owned_children.cc",
        "native/src/peer.cc",
        "native/src/pidfs_handle.cc",
        "native/src/pipe_reader.cc",
        "native/src/pipes.cc",
        "native/src/probe.cc",
        "native/src/process_handle.cc",
        "native/src/spawn.cc",
        "native/src/spawn_async.cc",
        "native/src/spawn_many.cc",
        "native/src/spawn_child.cc",
        "native/src/spawn_request.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fstack-protector-strong"
      ],
      "ldflags": ["-Wl,-z,relro", "-Wl,-z,now"]
    },
    {
      "target_name": "pidvisor-keeper",
      "type": "executable",
      "sources": ["native/keeper/keeper.c"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-fstack-protector-strong"],
      "ldflags": ["-Wl,-z,relro", "-Wl,-z,now"]
    },
    {
      "target_name": "pidvisor-init",
      "type": "executable",
      "sources": ["native/keeper/keeper.c"],
      "defines": ["PVK_INIT_ENTRY"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-fstack-protector-strong"],
      "ldflags": ["-Wl,-z,relro", "-Wl,-z,now"]
    }
  ]
}
