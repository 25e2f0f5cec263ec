import CNetlink
import Testing

@testable import DirectordIPVS

/// The codec repeats the kernel's numbers with readable names; these must be the header's.
@Suite("IPVS constants agree with linux/ip_vs.h")
struct ConstantTests {
    @Test("command numbers")
    func commands() {
        #expect(Int(IPVSCommand.newService.rawValue) == IPVS_CMD_NEW_SERVICE)
        #expect(Int(IPVSCommand.setService.rawValue) == IPVS_CMD_SET_SERVICE)
        #expect(Int(IPVSCommand.deleteService.rawValue) == IPVS_CMD_DEL_SERVICE)
        #expect(Int(IPVSCommand.getService.rawValue) == IPVS_CMD_GET_SERVICE)
        #expect(Int(IPVSCommand.newDestination.rawValue) == IPVS_CMD_NEW_DEST)
        #expect(Int(IPVSCommand.setDestination.rawValue) == IPVS_CMD_SET_DEST)
        #expect(Int(IPVSCommand.deleteDestination.rawValue) == IPVS_CMD_DEL_DEST)
        #expect(Int(IPVSCommand.getDestination.rawValue) == IPVS_CMD_GET_DEST)
        #expect(Int(IPVSCommand.newDaemon.rawValue) == IPVS_CMD_NEW_DAEMON)
        #expect(Int(IPVSCommand.deleteDaemon.rawValue) == IPVS_CMD_DEL_DAEMON)
        #expect(Int(IPVSCommand.getDaemon.rawValue) == IPVS_CMD_GET_DAEMON)
        #expect(Int(IPVSCommand.setInfo.rawValue) == IPVS_CMD_SET_INFO)
        #expect(Int(IPVSCommand.getInfo.rawValue) == IPVS_CMD_GET_INFO)
        #expect(Int(IPVSCommand.zero.rawValue) == IPVS_CMD_ZERO)
        #expect(Int(IPVSCommand.flush.rawValue) == IPVS_CMD_FLUSH)
        #expect(Int(IPVSAttribute.familyVersion) == IPVS_GENL_VERSION)
        #expect(IPVS_GENL_NAME == "IPVS")
    }

    @Test("attribute numbers")
    func attributes() {
        #expect(Int(IPVSAttribute.commandService) == IPVS_CMD_ATTR_SERVICE)
        #expect(Int(IPVSAttribute.commandDestination) == IPVS_CMD_ATTR_DEST)
        #expect(Int(IPVSAttribute.commandDaemon) == IPVS_CMD_ATTR_DAEMON)

        #expect(Int(IPVSAttribute.serviceFamily) == IPVS_SVC_ATTR_AF)
        #expect(Int(IPVSAttribute.serviceProtocol) == IPVS_SVC_ATTR_PROTOCOL)
        #expect(Int(IPVSAttribute.serviceAddress) == IPVS_SVC_ATTR_ADDR)
        #expect(Int(IPVSAttribute.servicePort) == IPVS_SVC_ATTR_PORT)
        #expect(Int(IPVSAttribute.serviceMark) == IPVS_SVC_ATTR_FWMARK)
        #expect(Int(IPVSAttribute.serviceScheduler) == IPVS_SVC_ATTR_SCHED_NAME)
        #expect(Int(IPVSAttribute.serviceFlags) == IPVS_SVC_ATTR_FLAGS)
        #expect(Int(IPVSAttribute.serviceTimeout) == IPVS_SVC_ATTR_TIMEOUT)
        #expect(Int(IPVSAttribute.serviceNetmask) == IPVS_SVC_ATTR_NETMASK)
        #expect(Int(IPVSAttribute.serviceStats) == IPVS_SVC_ATTR_STATS)
        #expect(Int(IPVSAttribute.servicePersistenceEngine) == IPVS_SVC_ATTR_PE_NAME)
        #expect(Int(IPVSAttribute.serviceStats64) == IPVS_SVC_ATTR_STATS64)

        #expect(Int(IPVSAttribute.destinationAddress) == IPVS_DEST_ATTR_ADDR)
        #expect(Int(IPVSAttribute.destinationPort) == IPVS_DEST_ATTR_PORT)
        #expect(Int(IPVSAttribute.destinationForwarding) == IPVS_DEST_ATTR_FWD_METHOD)
        #expect(Int(IPVSAttribute.destinationWeight) == IPVS_DEST_ATTR_WEIGHT)
        #expect(Int(IPVSAttribute.destinationUpperThreshold) == IPVS_DEST_ATTR_U_THRESH)
        #expect(Int(IPVSAttribute.destinationLowerThreshold) == IPVS_DEST_ATTR_L_THRESH)
        #expect(Int(IPVSAttribute.destinationActiveConnections) == IPVS_DEST_ATTR_ACTIVE_CONNS)
        #expect(Int(IPVSAttribute.destinationInactiveConnections) == IPVS_DEST_ATTR_INACT_CONNS)
        #expect(Int(IPVSAttribute.destinationPersistentConnections) == IPVS_DEST_ATTR_PERSIST_CONNS)
        #expect(Int(IPVSAttribute.destinationStats) == IPVS_DEST_ATTR_STATS)
        #expect(Int(IPVSAttribute.destinationFamily) == IPVS_DEST_ATTR_ADDR_FAMILY)
        #expect(Int(IPVSAttribute.destinationStats64) == IPVS_DEST_ATTR_STATS64)

        #expect(Int(IPVSAttribute.daemonState) == IPVS_DAEMON_ATTR_STATE)
        #expect(Int(IPVSAttribute.daemonInterface) == IPVS_DAEMON_ATTR_MCAST_IFN)
        #expect(Int(IPVSAttribute.daemonSyncID) == IPVS_DAEMON_ATTR_SYNC_ID)
        #expect(Int(IPVSAttribute.daemonMaxLength) == IPVS_DAEMON_ATTR_SYNC_MAXLEN)
        #expect(Int(IPVSAttribute.daemonGroup) == IPVS_DAEMON_ATTR_MCAST_GROUP)
        #expect(Int(IPVSAttribute.daemonGroup6) == IPVS_DAEMON_ATTR_MCAST_GROUP6)
        #expect(Int(IPVSAttribute.daemonPort) == IPVS_DAEMON_ATTR_MCAST_PORT)
        #expect(Int(IPVSAttribute.daemonTTL) == IPVS_DAEMON_ATTR_MCAST_TTL)

        #expect(Int(IPVSAttribute.statsConnections) == IPVS_STATS_ATTR_CONNS)
        #expect(Int(IPVSAttribute.statsIncomingPackets) == IPVS_STATS_ATTR_INPKTS)
        #expect(Int(IPVSAttribute.statsOutgoingPackets) == IPVS_STATS_ATTR_OUTPKTS)
        #expect(Int(IPVSAttribute.statsIncomingBytes) == IPVS_STATS_ATTR_INBYTES)
        #expect(Int(IPVSAttribute.statsOutgoingBytes) == IPVS_STATS_ATTR_OUTBYTES)
        #expect(Int(IPVSAttribute.statsConnectionRate) == IPVS_STATS_ATTR_CPS)
        #expect(Int(IPVSAttribute.statsIncomingPacketRate) == IPVS_STATS_ATTR_INPPS)
        #expect(Int(IPVSAttribute.statsOutgoingPacketRate) == IPVS_STATS_ATTR_OUTPPS)
        #expect(Int(IPVSAttribute.statsIncomingByteRate) == IPVS_STATS_ATTR_INBPS)
        #expect(Int(IPVSAttribute.statsOutgoingByteRate) == IPVS_STATS_ATTR_OUTBPS)

        #expect(Int(IPVSAttribute.infoVersion) == IPVS_INFO_ATTR_VERSION)
        #expect(Int(IPVSAttribute.infoConnectionTableSize) == IPVS_INFO_ATTR_CONN_TAB_SIZE)
    }

    @Test("netlink framing constants")
    func framing() {
        #expect(Int32(Netlink.flagRequest) == NLM_F_REQUEST)
        #expect(Int32(Netlink.flagMulti) == NLM_F_MULTI)
        #expect(Int32(Netlink.flagAck) == NLM_F_ACK)
        #expect(Int32(Netlink.flagDumpInterrupted) == NLM_F_DUMP_INTR)
        #expect(Int32(Netlink.flagDump) == NLM_F_DUMP)
        #expect(Int32(Netlink.typeNoop) == NLMSG_NOOP)
        #expect(Int32(Netlink.typeError) == NLMSG_ERROR)
        #expect(Int32(Netlink.typeDone) == NLMSG_DONE)
        #expect(Int32(Netlink.typeOverrun) == NLMSG_OVERRUN)
    }
}
