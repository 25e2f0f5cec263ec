import CCurl
import CMariaDB
import CNetlink
import Testing

/// The C libraries from Debian are found by pkg-config, import and link.
@Suite("System libraries")
struct SystemLibraryTests {
    @Test("libcurl links and reports an HTTPS-capable build")
    func curl() throws {
        // CURLVERSION_NOW is a macro naming the newest CURLversion value.
        let info = try #require(curl_version_info(CURLVERSION_TENTH))
        #expect(info.pointee.features & CURL_VERSION_SSL != 0)
        #expect(String(cString: curl_version()).hasPrefix("libcurl/"))
    }

    @Test("libmariadb links")
    func mariadb() throws {
        #expect(!String(cString: mysql_get_client_info()).isEmpty)
    }

    @Test("libnl-genl links and the IPVS constants import")
    func netlink() throws {
        let socket = try #require(nl_socket_alloc())
        defer { nl_socket_free(socket) }
        #expect(IPVS_GENL_NAME == "IPVS")
        #expect(IPVS_CMD_NEW_DEST > 0)
    }
}
