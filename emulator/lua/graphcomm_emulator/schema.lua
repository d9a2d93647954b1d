-- graphcomm_emulator.schema: the call-records types the emulator accepts, as data.
-- An independent second reading of ../shared/seed and ../shared/reference (the C
-- core has its own): one line per property, "name Kind", where Kind is a scalar
-- (String Boolean Int32 Int64 Single Double DateTime TimeSpan), an enum (Capitalised,
-- listed in ENUMS) or a complex type (lower case, listed in TYPES); "[]" makes it a
-- collection and a trailing "?" nullable.

local M = {}

local NS = "#microsoft.graph.callRecords."

M.ENUMS = {
  Modality = "unknown audio video videoBasedScreenSharing data screenSharing unknownFutureValue",
  FailureStage = "unknown callSetup midcall unknownFutureValue",
  AudioCodec = "unknown invalid cn pcma pcmu amrWide g722 g7221 g7221c g729 multiChannelAudio muchv2 " ..
    "opus satin satinFullband rtAudio8 rtAudio16 silk silkNarrow silkWide siren xmsRta unknownFutureValue",
  VideoCodec = "unknown invalid av1 h263 h264 h264s h264uc h265 rtvc1 rtVideo xrtvc1 unknownFutureValue",
  MediaStreamDirection = "callerToCallee calleeToCaller",
  NetworkConnectionType = "unknown wired wifi mobile tunnel unknownFutureValue",
  NetworkTransportProtocol = "unknown udp tcp unknownFutureValue",
  WifiBand = "unknown frequency24GHz frequency50GHz frequency60GHz unknownFutureValue",
  WifiRadioType = "unknown wifi80211a wifi80211b wifi80211g wifi80211n wifi80211ac wifi80211ax unknownFutureValue",
  ClientPlatform = "unknown windows macOS iOS android web ipPhone roomSystem surfaceHub holoLens unknownFutureValue",
  ProductFamily = "unknown teams skypeForBusiness lync unknownFutureValue azureCommunicationServices",
  ServiceRole = "unknown customBot skypeForBusinessMicrosoftTeamsGateway skypeForBusinessAudioVideoMcu " ..
    "skypeForBusinessApplicationSharingMcu skypeForBusinessCallQueues skypeForBusinessAutoAttendant " ..
    "mediationServer mediationServerCloudConnectorEdition exchangeUnifiedMessagingService mediaController " ..
    "conferencingAnnouncementService conferencingAttendant audioTeleconferencerController " ..
    "skypeForBusinessUnifiedCommunicationApplicationPlatform responseGroupServiceAnnouncementService gateway " ..
    "skypeTranslator skypeForBusinessAttendant responseGroupService voicemail unknownFutureValue",
  UserFeedbackRating = "notRated bad poor fair good excellent unknownFutureValue",
}

-- name = { odata = "@odata.type value", base = "parent type", props = "lines", derived = {...}, open = kind }
M.TYPES = {
  session = { odata = NS .. "session", props = [[
    id String
    callee endpoint?
    caller endpoint?
    endDateTime DateTime?
    failureInfo failureInfo?
    isTest Boolean?
    modalities Modality[]
    startDateTime DateTime?
    segments segment[]?
  ]] },
  segment = { odata = NS .. "segment", props = [[
    id String
    callee endpoint?
    caller endpoint?
    endDateTime DateTime?
    failureInfo failureInfo?
    media media[]?
    startDateTime DateTime?
  ]] },
  endpoint = { odata = NS .. "endpoint", derived = { "participantEndpoint", "serviceEndpoint" }, props = [[
    userAgent userAgent?
  ]] },
  participantEndpoint = { odata = NS .. "participantEndpoint", base = "endpoint", props = [[
    associatedIdentity identity?
    cpuCoresCount Int32?
    cpuName String?
    cpuProcessorSpeedInMhz Int32?
    feedback userFeedback?
    identity identitySet?
    name String?
  ]] },
  serviceEndpoint = { odata = NS .. "serviceEndpoint", base = "endpoint", props = "" },
  userAgent = { odata = NS .. "userAgent", derived = { "clientUserAgent", "serviceUserAgent" }, props = [[
    applicationVersion String?
    headerValue String?
  ]] },
  clientUserAgent = { odata = NS .. "clientUserAgent", base = "userAgent", props = [[
    azureADAppId String?
    communicationServiceId String?
    platform ClientPlatform
    productFamily ProductFamily
  ]] },
  serviceUserAgent = { odata = NS .. "serviceUserAgent", base = "userAgent", props = [[
    role ServiceRole
  ]] },
  failureInfo = { odata = NS .. "failureInfo", props = [[
    reason String?
    stage FailureStage
  ]] },
  userFeedback = { odata = NS .. "userFeedback", props = [[
    rating UserFeedbackRating
    text String?
    tokens feedbackTokenSet?
  ]] },
  feedbackTokenSet = { odata = NS .. "feedbackTokenSet", open = "Boolean", props = "" },
  identity = { odata = "#microsoft.graph.identity", props = [[
    displayName String?
    id String?
  ]] },
  identitySet = { odata = "#microsoft.graph.identitySet", props = [[
    application identity?
    device identity?
    user identity?
  ]] },
  media = { odata = NS .. "media", props = [[
    calleeDevice deviceInfo?
    calleeNetwork networkInfo?
    callerDevice deviceInfo?
    callerNetwork networkInfo?
    label String?
    streams mediaStream[]?
  ]] },
  deviceInfo = { odata = NS .. "deviceInfo", props = [[
    captureDeviceDriver String?
    captureDeviceName String?
    captureNotFunctioningEventRatio Single?
    cpuInsufficentEventRatio Single?
    deviceClippingEventRatio Single?
    deviceGlitchEventRatio Single?
    howlingEventCount Int32?
    initialSignalLevelRootMeanSquare Single?
    lowSpeechLevelEventRatio Single?
    lowSpeechToNoiseEventRatio Single?
    micGlitchRate Single?
    receivedNoiseLevel Int32?
    receivedSignalLevel Int32?
    renderDeviceDriver String?
    renderDeviceName String?
    renderMuteEventRatio Single?
    renderNotFunctioningEventRatio Single?
    renderZeroVolumeEventRatio Single?
    sentNoiseLevel Int32?
    sentSignalLevel Int32?
    speakerGlitchRate Single?
  ]] },
  networkInfo = { odata = NS .. "networkInfo", props = [[
    bandwidthLowEventRatio Single?
    basicServiceSetIdentifier String?
    connectionType NetworkConnectionType
    delayEventRatio Single?
    dnsSuffix String?
    ipAddress String?
    linkSpeed Int64?
    macAddress String?
    networkTransportProtocol NetworkTransportProtocol
    port Int32?
    receivedQualityEventRatio Single?
    reflexiveIPAddress String?
    relayIPAddress String?
    relayPort Int32?
    sentQualityEventRatio Single?
    subnet String?
    traceRouteHops traceRouteHop[]
    wifiBand WifiBand
    wifiBatteryCharge Int32?
    wifiChannel Int32?
    wifiMicrosoftDriver String?
    wifiMicrosoftDriverVersion String?
    wifiRadioType WifiRadioType
    wifiSignalStrength Int32?
    wifiVendorDriver String?
    wifiVendorDriverVersion String?
  ]] },
  traceRouteHop = { odata = NS .. "traceRouteHop", props = [[
    hopCount Int32?
    ipAddress String?
    roundTripTime TimeSpan?
  ]] },
  mediaStream = { odata = NS .. "mediaStream", props = [[
    audioCodec AudioCodec?
    averageAudioDegradation Single?
    averageAudioNetworkJitter TimeSpan?
    averageBandwidthEstimate Int64?
    averageFreezeDuration TimeSpan?
    averageJitter TimeSpan?
    averagePacketLossRate Single?
    averageRatioOfConcealedSamples Single?
    averageReceivedFrameRate Single?
    averageRoundTripTime TimeSpan?
    averageVideoFrameLossPercentage Single?
    averageVideoFrameRate Single?
    averageVideoPacketLossRate Single?
    endDateTime DateTime?
    isAudioForwardErrorCorrectionUsed Boolean?
    lowFrameRateRatio Single?
    lowVideoProcessingCapabilityRatio Single?
    maxAudioNetworkJitter TimeSpan?
    maxJitter TimeSpan?
    maxPacketLossRate Single?
    maxRatioOfConcealedSamples Single?
    maxRoundTripTime TimeSpan?
    packetUtilization Int64?
    postForwardErrorCorrectionPacketLossRate Single?
    rmsFreezeDuration TimeSpan?
    startDateTime DateTime?
    streamDirection MediaStreamDirection
    streamId String?
    videoCodec VideoCodec?
    wasMediaBypassed Boolean?
  ]] },
}

local SCALARS = { String = true, Boolean = true, Int32 = true, Int64 = true, Single = true,
  Double = true, DateTime = true, TimeSpan = true }

-- Parses the property lines once: props[name] = { kind, collection, nullable }, order = { names }.
local function compile()
  for name, t in pairs(M.TYPES) do
    local base = t.base and M.TYPES[t.base]
    t.name, t.props_by_name, t.order = name, {}, {}
    local lines = (base and base.props or "") .. "\n" .. t.props
    for pname, kind, coll, nullable in lines:gmatch("(%w+)%s+(%w+)(%[?%]?)(%??)") do
      local p = { name = pname, kind = kind, collection = coll == "[]", nullable = nullable == "?" }
      p.scalar = SCALARS[kind] and kind
      p.enum = M.ENUMS[kind] and kind
      p.type = M.TYPES[kind] and kind
      assert(p.scalar or p.enum or p.type, "schema: unknown kind " .. kind)
      t.props_by_name[pname] = p
      t.order[#t.order + 1] = pname
    end
  end
  local enums = {}
  for name, list in pairs(M.ENUMS) do
    local set = {}
    for v in list:gmatch("%S+") do set[v] = true end
    enums[name] = set
  end
  M.enum_sets = enums
end
compile()

M.NS = NS
return M
