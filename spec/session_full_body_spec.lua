-- One body with every property of the cmdlet page (the seed's NOTES), in the
-- cmdlet's PascalCase, checked byte for byte (values and key order) and, after
-- decoding with cjson, against the expected JSON.
local h = require "helpers.session"
local core, cjson = h.core, h.cjson

-- Each type's properties in the reference's order: PascalCase name (input),
-- JSON name, input value, expected JSON text.
local device = {
  { "CaptureDeviceDriver", "captureDeviceDriver", "Microsoft: 5.0.8638.1100", '"Microsoft: 5.0.8638.1100"' },
  { "CaptureDeviceName", "captureDeviceName", "Microphone (Realtek)", '"Microphone (Realtek)"' },
  { "CaptureNotFunctioningEventRatio", "captureNotFunctioningEventRatio", 0, "0" },
  { "CpuInsufficentEventRatio", "cpuInsufficentEventRatio", 0.01, "0.01" },
  { "DeviceClippingEventRatio", "deviceClippingEventRatio", 0.005, "0.005" },
  { "DeviceGlitchEventRatio", "deviceGlitchEventRatio", 0.1 + 0.2, "0.30000000000000004" },
  { "HowlingEventCount", "howlingEventCount", 2, "2" },
  { "InitialSignalLevelRootMeanSquare", "initialSignalLevelRootMeanSquare", 60.5, "60.5" },
  { "LowSpeechLevelEventRatio", "lowSpeechLevelEventRatio", 0.25, "0.25" },
  { "LowSpeechToNoiseEventRatio", "lowSpeechToNoiseEventRatio", 1e-6, "1e-06" },
  { "MicGlitchRate", "micGlitchRate", 3, "3" },
  { "ReceivedNoiseLevel", "receivedNoiseLevel", -86, "-86" },
  { "ReceivedSignalLevel", "receivedSignalLevel", -14, "-14" },
  { "RenderDeviceDriver", "renderDeviceDriver", "Realtek: 6.0.1.8673", '"Realtek: 6.0.1.8673"' },
  { "RenderDeviceName", "renderDeviceName", "Speakers \"Main\"", '"Speakers \\"Main\\""' },
  { "RenderMuteEventRatio", "renderMuteEventRatio", 0.5, "0.5" },
  { "RenderNotFunctioningEventRatio", "renderNotFunctioningEventRatio", 0.125, "0.125" },
  { "RenderZeroVolumeEventRatio", "renderZeroVolumeEventRatio", 0.0625, "0.0625" },
  { "SentNoiseLevel", "sentNoiseLevel", -90, "-90" },
  { "SentSignalLevel", "sentSignalLevel", -20.0, "-20" },
  { "SpeakerGlitchRate", "speakerGlitchRate", 12.75, "12.75" },
}

local hop = {
  { "HopCount", "hopCount", 1, "1" },
  { "IPAddress", "ipAddress", "10.0.0.1", '"10.0.0.1"' },
  { "RoundTripTime", "roundTripTime", 0.002, '"PT0.002S"' },
}

local network = {
  { "BandwidthLowEventRatio", "bandwidthLowEventRatio", 0.05, "0.05" },
  { "BasicServiceSetIdentifier", "basicServiceSetIdentifier", "00:11:22:33:44:55", '"00:11:22:33:44:55"' },
  { "ConnectionType", "connectionType", "WIFI", '"wifi"' },
  { "DelayEventRatio", "delayEventRatio", 0.75, "0.75" },
  { "DnsSuffix", "dnsSuffix", "corp.contoso.com", '"corp.contoso.com"' },
  { "IPAddress", "ipAddress", "192.168.1.20", '"192.168.1.20"' },
  { "LinkSpeed", "linkSpeed", 866700000, "866700000" },
  { "MacAddress", "macAddress", "02:00:00:00:00:00", '"02:00:00:00:00:00"' },
  { "NetworkTransportProtocol", "networkTransportProtocol", "Udp", '"udp"' },
  { "Port", "port", 50012, "50012" },
  { "ReceivedQualityEventRatio", "receivedQualityEventRatio", 0.0001, "0.0001" },
  { "ReflexiveIPAddress", "reflexiveIPAddress", "203.0.113.7", '"203.0.113.7"' },
  { "RelayIPAddress", "relayIPAddress", "52.114.0.1", '"52.114.0.1"' },
  { "RelayPort", "relayPort", 3478, "3478" },
  { "SentQualityEventRatio", "sentQualityEventRatio", 0.2, "0.2" },
  { "Subnet", "subnet", "192.168.1.0", '"192.168.1.0"' },
  { "TraceRouteHops", "traceRouteHops", "hops", nil },   -- filled below
  { "WifiBand", "wifiBand", "Frequency50GHz", '"frequency50GHz"' },
  { "WifiBatteryCharge", "wifiBatteryCharge", 80, "80" },
  { "WifiChannel", "wifiChannel", 36, "36" },
  { "WifiMicrosoftDriver", "wifiMicrosoftDriver", "Microsoft Wi-Fi Direct", '"Microsoft Wi-Fi Direct"' },
  { "WifiMicrosoftDriverVersion", "wifiMicrosoftDriverVersion", "10.0.19041.1", '"10.0.19041.1"' },
  { "WifiRadioType", "wifiRadioType", "wifi80211AC", '"wifi80211ac"' },
  { "WifiSignalStrength", "wifiSignalStrength", 70, "70" },
  { "WifiVendorDriver", "wifiVendorDriver", "Intel(R) Wi-Fi 6 AX201", '"Intel(R) Wi-Fi 6 AX201"' },
  { "WifiVendorDriverVersion", "wifiVendorDriverVersion", "22.110.1.1", '"22.110.1.1"' },
}

local stream = {
  { "AudioCodec", "audioCodec", "SATIN", '"satin"' },
  { "AverageAudioDegradation", "averageAudioDegradation", 0.4, "0.4" },
  { "AverageAudioNetworkJitter", "averageAudioNetworkJitter", "PT0.010S", '"PT0.01S"' },
  { "AverageBandwidthEstimate", "averageBandwidthEstimate", 9000000, "9000000" },
  { "AverageJitter", "averageJitter", 0.015, '"PT0.015S"' },
  { "AveragePacketLossRate", "averagePacketLossRate", 0.001, "0.001" },
  { "AverageRatioOfConcealedSamples", "averageRatioOfConcealedSamples", 0.02, "0.02" },
  { "AverageReceivedFrameRate", "averageReceivedFrameRate", 29.97, "29.97" },
  { "AverageRoundTripTime", "averageRoundTripTime", "PT0.045S", '"PT0.045S"' },
  { "AverageVideoFrameLossPercentage", "averageVideoFrameLossPercentage", 1.5, "1.5" },
  { "AverageVideoFrameRate", "averageVideoFrameRate", 30, "30" },
  { "AverageVideoPacketLossRate", "averageVideoPacketLossRate", 0.003, "0.003" },
  { "EndDateTime", "endDateTime", "2024-01-31T10:45:00.1234567+01:00", '"2024-01-31T09:45:00.1234567Z"' },
  { "LowFrameRateRatio", "lowFrameRateRatio", 0.1, "0.1" },
  { "LowVideoProcessingCapabilityRatio", "lowVideoProcessingCapabilityRatio", 0.0, "0" },
  { "MaxAudioNetworkJitter", "maxAudioNetworkJitter", 0.05, '"PT0.05S"' },
  { "MaxJitter", "maxJitter", "PT0.060S", '"PT0.06S"' },
  { "MaxPacketLossRate", "maxPacketLossRate", 0.05, "0.05" },
  { "MaxRatioOfConcealedSamples", "maxRatioOfConcealedSamples", 0.07, "0.07" },
  { "MaxRoundTripTime", "maxRoundTripTime", 0.25, '"PT0.25S"' },
  { "PacketUtilization", "packetUtilization", 1234567, "1234567" },
  { "PostForwardErrorCorrectionPacketLossRate", "postForwardErrorCorrectionPacketLossRate", 0.0005, "0.0005" },
  { "StartDateTime", "startDateTime", 1706693400, '"2024-01-31T09:30:00Z"' },
  { "StreamDirection", "streamDirection", "calleetocaller", '"calleeToCaller"' },
  { "StreamId", "streamId", "1504545584", '"1504545584"' },
  { "VideoCodec", "videoCodec", "h264", '"h264"' },
  { "WasMediaBypassed", "wasMediaBypassed", false, "false" },
}

local user_agent = {
  { "ApplicationVersion", "applicationVersion", "1.6.00.1234", '"1.6.00.1234"' },
  { "HeaderValue", "headerValue", "RTCC/7.0.0.0 UCWA/7.0.0.0 AndroidLync/6.25.0.27 (SM-G930U Android 8.0.0)",
    '"RTCC/7.0.0.0 UCWA/7.0.0.0 AndroidLync/6.25.0.27 (SM-G930U Android 8.0.0)"' },
}

local failure = {
  { "Reason", "reason", "Unexpected", '"Unexpected"' },
  { "Stage", "stage", "CallSetup", '"callSetup"' },
}

-- Builds the PascalCase input table and the expected JSON text of a list.
local function build(list)
  local input, parts = {}, {}
  for _, p in ipairs(list) do
    input[p[1]] = p[3]
    parts[#parts + 1] = '"' .. p[2] .. '":' .. p[4]
  end
  return input, "{" .. table.concat(parts, ",") .. "}"
end

local hop_in, hop_json = build(hop)
network[17][3] = { hop_in, hop_in }
network[17][4] = "[" .. hop_json .. "," .. hop_json .. "]"
local net_in, net_json = build(network)
local dev_in, dev_json = build(device)
local stream_in, stream_json = build(stream)
local ua_in, ua_json = build(user_agent)
local fail_in, fail_json = build(failure)
local endpoint_in, endpoint_json = { UserAgent = ua_in }, '{"userAgent":' .. ua_json .. "}"

local media_in, media_json = build{
  { "CalleeDevice", "calleeDevice", dev_in, dev_json },
  { "CalleeNetwork", "calleeNetwork", net_in, net_json },
  { "CallerDevice", "callerDevice", dev_in, dev_json },
  { "CallerNetwork", "callerNetwork", net_in, net_json },
  { "Label", "label", "main-audio", '"main-audio"' },
  { "Streams", "streams", { stream_in, stream_in }, "[" .. stream_json .. "," .. stream_json .. "]" },
}

local segment_in, segment_json = build{
  { "Id", "id", "e523d2ed-2966-4b6b-925b-754a88034cc5", '"e523d2ed-2966-4b6b-925b-754a88034cc5"' },
  { "Callee", "callee", endpoint_in, endpoint_json },
  { "Caller", "caller", endpoint_in, endpoint_json },
  { "EndDateTime", "endDateTime", "2024-01-31T09:45:00Z", '"2024-01-31T09:45:00Z"' },
  { "FailureInfo", "failureInfo", fail_in, fail_json },
  { "Media", "media", { media_in }, "[" .. media_json .. "]" },
  { "StartDateTime", "startDateTime", { year = 2024, month = 1, day = 31, hour = 9, min = 30 },
    '"2024-01-31T09:30:00Z"' },
}

local session_in, session_json = build{
  { "Id", "id", "f2e3b7a1-0c4e-4f1b-9a6d-3c8e5b2d1a90", '"f2e3b7a1-0c4e-4f1b-9a6d-3c8e5b2d1a90"' },
  { "Callee", "callee", endpoint_in, endpoint_json },
  { "Caller", "caller", endpoint_in, endpoint_json },
  { "EndDateTime", "endDateTime", "2024-01-31T09:45:00.5Z", '"2024-01-31T09:45:00.5Z"' },
  { "FailureInfo", "failureInfo", fail_in, fail_json },
  { "Modalities", "modalities", { "Audio", "Video", "ScreenSharing", "Unknown" },
    '["audio","video","screenSharing","unknown"]' },
  { "StartDateTime", "startDateTime", "2024-01-31T10:30:00+01:00", '"2024-01-31T09:30:00Z"' },
  { "Segments", "segments", { segment_in, segment_in }, "[" .. segment_json .. "," .. segment_json .. "]" },
}
session_in.AdditionalProperties = { ["x-fix-ticket"] = "INC0012345" }
session_json = session_json:sub(1, -2) .. ',"x-fix-ticket":"INC0012345"}'

describe("a body with every property of the cmdlet page, in PascalCase", function()
  it("is written byte for byte in the JSON spelling, values canonical, keys in the reference's order", function()
    local body = h.json(session_in)
    assert.equal(session_json, body)
  end)

  it("decodes (with cjson) to the expected JSON", function()
    assert.same(cjson.decode(session_json), cjson.decode(h.json(session_in)))
  end)

  it("covers every property the seed lists for each type", function()
    local counts = { deviceInfo = #device, networkInfo = #network, mediaStream = #stream,
                     traceRouteHop = #hop, userAgent = #user_agent, failureInfo = #failure }
    for name, n in pairs(counts) do
      local seed_props = 0
      for _, p in ipairs(core.schema(name).properties) do
        if p.name ~= "averageFreezeDuration" and p.name ~= "rmsFreezeDuration"
           and p.name ~= "isAudioForwardErrorCorrectionUsed" then
          seed_props = seed_props + 1
        end
      end
      assert.equal(seed_props, n, name)
    end
  end)

  it("round-trips through the normalized copy and through the decoded JSON", function()
    local s = assert(core.session(session_in))
    assert.equal(session_json, core.encode(s:totable()))
    local decoded = cjson.decode(session_json)
    decoded["x-fix-ticket"] = nil
    decoded.AdditionalProperties = { ["x-fix-ticket"] = "INC0012345" }
    assert.equal(session_json, core.encode(decoded))
  end)

  it("is about 13 KB, well under max_bytes", function()
    assert.is_true(#session_json > 10000 and #session_json < 20000)
  end)
end)
