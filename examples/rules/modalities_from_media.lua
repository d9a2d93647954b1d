-- examples/rules/modalities_from_media.lua: a session's audio and video modalities as its
-- media streams have them. A client that lists "video" for a participant who never sent
-- or received a video stream (or leaves it out for one who did) skews video-usage
-- reports. A stream with an audioCodec is audio, one with a videoCodec is video; other
-- modalities (screenSharing, data, ...) are kept as listed, after audio and video.
--
--   graphcomm fix examples/rules/modalities_from_media.lua --from 2026-11-25 --to 2026-11-26
--
-- where() skips, without reading their sessions, records that list no video at all.
-- fix() returns the derived list every time: when it is what the session already has,
-- graphcomm's diff finds nothing to send.

local function has(list, value)
  for _, v in ipairs(type(list) == "table" and list or {}) do
    if v == value then return true end
  end
  return false
end

return {
  name = "modalities-from-media",
  description = "audio and video modalities derived from the session's media streams",

  where = function(record)
    return has(record.modalities, "video")
  end,

  fix = function(session)
    local streams = graphcomm.streams(session)
    if #streams == 0 then return nil end           -- nothing to derive from
    local audio, video = false, false
    for _, s in ipairs(streams) do
      audio = audio or not graphcomm.is_null(s.stream.audioCodec)
      video = video or not graphcomm.is_null(s.stream.videoCodec)
    end
    local list = {}
    if audio then list[#list + 1] = "audio" end
    if video then list[#list + 1] = "video" end
    for _, m in ipairs(type(session.modalities) == "table" and session.modalities or {}) do
      if m ~= "audio" and m ~= "video" then list[#list + 1] = m end
    end
    return { modalities = list }
  end,
}
