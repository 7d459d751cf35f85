{
  "targets": [
    {
      "target_name": "lvs_genl",
      "sources": ["src/genl_dump.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["_GNU_SOURCE"]
    }
  ]
}
