# Turns the web page into a C++ raw string (no build tools beyond CMake needed to serve it).
file(READ ${IN} QS_PAGE)
string(FIND "${QS_PAGE}" ")QSWEB\"" QS_BAD)
if(NOT QS_BAD EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )QSWEB\"")
endif()
file(WRITE ${OUT} "// Generated from src/server/web/index.html by embed_web.cmake. Do not edit.\n#include \"server/web_assets.h\"\nnamespace qs::server {\nconst char kWebIndexHtml[] = R\"QSWEB(${QS_PAGE})QSWEB\";\n}  // namespace qs::server\n")
