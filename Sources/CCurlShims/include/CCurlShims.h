#ifndef C_CURL_SHIMS_H
#define C_CURL_SHIMS_H

// Only what Swift cannot import by itself.
//
// curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic, and Swift cannot call
// C variadic functions: one typed wrapper per argument kind. The operating system's own gaps
// are CSystemShims'.

#include <curl/curl.h>

CURLcode CDirectord_curl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode CDirectord_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode CDirectord_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode CDirectord_curl_easy_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback callback);

CURLcode CDirectord_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode CDirectord_curl_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value);
CURLcode CDirectord_curl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);

CURLMcode CDirectord_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
CURLMcode CDirectord_curl_multi_setopt_pointer(CURLM *multi, CURLMoption option, void *value);
CURLMcode CDirectord_curl_multi_setopt_socket_function(CURLM *multi, curl_socket_callback callback);
CURLMcode CDirectord_curl_multi_setopt_timer_function(CURLM *multi, curl_multi_timer_callback callback);

#endif
