// pcre2.h needs the code unit width before it is included; its `pcre2_compile` style names are
// macros over the `_8` functions, so Swift calls `pcre2_compile_8` and friends directly.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
