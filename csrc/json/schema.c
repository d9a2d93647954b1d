/* schema.c: the call-records schema as data. One line a property: JSON name,
 * kind, flags (nullable, array), child type or enum. It is Microsoft's v1.0
 * metadata (reference/graph-v1.0-callrecords.csdl.xml) except where
 * reference/differences.lua says otherwise, and spec/schema_reference_spec.lua
 * holds it to that through core.schema(): every type, property, kind, flag,
 * enum value and the order (the encoder writes it). See docs/schema.md. */
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include "json/schema.h"

#define S   GC_K_STRING
#define B   GC_K_BOOL
#define I32 GC_K_INT32
#define I64 GC_K_INT64
#define F32 GC_K_SINGLE
#define DT  GC_K_DATETIME
#define TS  GC_K_TIMESPAN
#define EN  GC_K_ENUM
#define OB  GC_K_OBJECT
#define N   GC_F_NULLABLE
#define A   GC_F_ARRAY
#define NA  (GC_F_NULLABLE | GC_F_ARRAY)

/* ------------------------------------------------------------------ enums */

static const char *const v_audio_codec[] = { "unknown", "invalid", "cn", "pcma", "pcmu",
    "amrWide", "g722", "g7221", "g7221c", "g729", "multiChannelAudio", "muchv2", "opus",
    "satin", "satinFullband", "rtAudio8", "rtAudio16", "silk", "silkNarrow", "silkWide",
    "siren", "xmsRta", "unknownFutureValue" };
static const char *const v_video_codec[] = { "unknown", "invalid", "av1", "h263", "h264",
    "h264s", "h264uc", "h265", "rtvc1", "rtVideo", "xrtvc1", "unknownFutureValue" };
/* The cmdlet page lists `unknown`; the metadata does not: the union takes both
 * (a listed difference). */
static const char *const v_modality[] = { "unknown", "audio", "video",
    "videoBasedScreenSharing", "data", "screenSharing", "unknownFutureValue" };
static const char *const v_failure_stage[] = { "unknown", "callSetup", "midcall",
    "unknownFutureValue" };
static const char *const v_stream_direction[] = { "callerToCallee", "calleeToCaller" };
static const char *const v_connection_type[] = { "unknown", "wired", "wifi", "mobile",
    "tunnel", "unknownFutureValue" };
static const char *const v_transport_protocol[] = { "unknown", "udp", "tcp",
    "unknownFutureValue" };
static const char *const v_wifi_band[] = { "unknown", "frequency24GHz", "frequency50GHz",
    "frequency60GHz", "unknownFutureValue" };
static const char *const v_wifi_radio_type[] = { "unknown", "wifi80211a", "wifi80211b",
    "wifi80211g", "wifi80211n", "wifi80211ac", "wifi80211ax", "unknownFutureValue" };
static const char *const v_client_platform[] = { "unknown", "windows", "macOS", "iOS",
    "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens",
    "unknownFutureValue" };
static const char *const v_product_family[] = { "unknown", "teams", "skypeForBusiness",
    "lync", "unknownFutureValue", "azureCommunicationServices" };
static const char *const v_service_role[] = { "unknown", "customBot",
    "skypeForBusinessMicrosoftTeamsGateway", "skypeForBusinessAudioVideoMcu",
    "skypeForBusinessApplicationSharingMcu", "skypeForBusinessCallQueues",
    "skypeForBusinessAutoAttendant", "mediationServer",
    "mediationServerCloudConnectorEdition", "exchangeUnifiedMessagingService",
    "mediaController", "conferencingAnnouncementService", "conferencingAttendant",
    "audioTeleconferencerController",
    "skypeForBusinessUnifiedCommunicationApplicationPlatform",
    "responseGroupServiceAnnouncementService", "gateway", "skypeTranslator",
    "skypeForBusinessAttendant", "responseGroupService", "voicemail",
    "unknownFutureValue" };
static const char *const v_feedback_rating[] = { "notRated", "bad", "poor", "fair", "good",
    "excellent", "unknownFutureValue" };
static const char *const v_endpoint_type[] = { "default", "voicemail", "skypeForBusiness",
    "skypeForBusinessVoipPhone", "unknownFutureValue" };

#define ENUM(name, v) { name, v, (int)(sizeof(v) / sizeof(v[0])) }
const gc_enum gc_enums[GC_NENUMS] = {
    ENUM("audioCodec", v_audio_codec),
    ENUM("videoCodec", v_video_codec),
    ENUM("modality", v_modality),
    ENUM("failureStage", v_failure_stage),
    ENUM("mediaStreamDirection", v_stream_direction),
    ENUM("networkConnectionType", v_connection_type),
    ENUM("networkTransportProtocol", v_transport_protocol),
    ENUM("wifiBand", v_wifi_band),
    ENUM("wifiRadioType", v_wifi_radio_type),
    ENUM("clientPlatform", v_client_platform),
    ENUM("productFamily", v_product_family),
    ENUM("serviceRole", v_service_role),
    ENUM("userFeedbackRating", v_feedback_rating),
    ENUM("endpointType", v_endpoint_type),
};

/* ------------------------------------------------------------- properties */

static const gc_prop p_session[] = {
    { "id",                     S,  0,  0 },
    { "callee",                 OB, N,  GC_T_ENDPOINT },
    { "caller",                 OB, N,  GC_T_ENDPOINT },
    { "endDateTime",            DT, N,  0 },
    { "failureInfo",            OB, N,  GC_T_FAILURE_INFO },
    { "isTest",                 B,  N,  0 },
    { "modalities",             EN, A,  GC_E_MODALITY },
    { "startDateTime",          DT, N,  0 },
    { "segments",               OB, NA, GC_T_SEGMENT },
};

static const gc_prop p_segment[] = {
    { "id",                     S,  0,  0 },
    { "callee",                 OB, N,  GC_T_ENDPOINT },
    { "caller",                 OB, N,  GC_T_ENDPOINT },
    { "endDateTime",            DT, N,  0 },
    { "failureInfo",            OB, N,  GC_T_FAILURE_INFO },
    { "media",                  OB, NA, GC_T_MEDIA },
    { "startDateTime",          DT, N,  0 },
};

static const gc_prop p_endpoint[] = {
    { "userAgent",              OB, N,  GC_T_USER_AGENT },
};

static const gc_prop p_participant_endpoint[] = {
    { "associatedIdentity",     OB, N,  GC_T_IDENTITY },
    { "cpuCoresCount",          I32, N, 0 },
    { "cpuName",                S,  N,  0 },
    { "cpuProcessorSpeedInMhz", I32, N, 0 },
    { "feedback",               OB, N,  GC_T_USER_FEEDBACK },
    { "identity",               OB, N,  GC_T_IDENTITY_SET },
    { "name",                   S,  N,  0 },
};

static const gc_prop p_user_agent[] = {
    { "applicationVersion",     S,  N,  0 },
    { "headerValue",            S,  N,  0 },
};

static const gc_prop p_client_user_agent[] = {
    { "azureADAppId",           S,  N,  0 },
    { "communicationServiceId", S,  N,  0 },
    { "platform",               EN, 0,  GC_E_CLIENT_PLATFORM },
    { "productFamily",          EN, 0,  GC_E_PRODUCT_FAMILY },
};

static const gc_prop p_service_user_agent[] = {
    { "role",                   EN, 0,  GC_E_SERVICE_ROLE },
};

static const gc_prop p_failure_info[] = {
    { "reason",                 S,  N,  0 },
    { "stage",                  EN, 0,  GC_E_FAILURE_STAGE },
};

static const gc_prop p_media[] = {
    { "calleeDevice",           OB, N,  GC_T_DEVICE_INFO },
    { "calleeNetwork",          OB, N,  GC_T_NETWORK_INFO },
    { "callerDevice",           OB, N,  GC_T_DEVICE_INFO },
    { "callerNetwork",          OB, N,  GC_T_NETWORK_INFO },
    { "label",                  S,  N,  0 },
    { "streams",                OB, NA, GC_T_MEDIA_STREAM },
};

static const gc_prop p_device_info[] = {
    { "captureDeviceDriver",              S,   N, 0 },
    { "captureDeviceName",                S,   N, 0 },
    { "captureNotFunctioningEventRatio",  F32, N, 0 },
    { "cpuInsufficentEventRatio",         F32, N, 0 },
    { "deviceClippingEventRatio",         F32, N, 0 },
    { "deviceGlitchEventRatio",           F32, N, 0 },
    { "howlingEventCount",                I32, N, 0 },
    { "initialSignalLevelRootMeanSquare", F32, N, 0 },
    { "lowSpeechLevelEventRatio",         F32, N, 0 },
    { "lowSpeechToNoiseEventRatio",       F32, N, 0 },
    { "micGlitchRate",                    F32, N, 0 },
    { "receivedNoiseLevel",               I32, N, 0 },
    { "receivedSignalLevel",              I32, N, 0 },
    { "renderDeviceDriver",               S,   N, 0 },
    { "renderDeviceName",                 S,   N, 0 },
    { "renderMuteEventRatio",             F32, N, 0 },
    { "renderNotFunctioningEventRatio",   F32, N, 0 },
    { "renderZeroVolumeEventRatio",       F32, N, 0 },
    { "sentNoiseLevel",                   I32, N, 0 },
    { "sentSignalLevel",                  I32, N, 0 },
    { "speakerGlitchRate",                F32, N, 0 },
};

static const gc_prop p_network_info[] = {
    { "bandwidthLowEventRatio",     F32, N, 0 },
    { "basicServiceSetIdentifier",  S,   N, 0 },
    { "connectionType",             EN,  0, GC_E_NETWORK_CONNECTION_TYPE },
    { "delayEventRatio",            F32, N, 0 },
    { "dnsSuffix",                  S,   N, 0 },
    { "ipAddress",                  S,   N, 0 },
    { "linkSpeed",                  I64, N, 0 },
    { "macAddress",                 S,   N, 0 },
    { "networkTransportProtocol",   EN,  0, GC_E_NETWORK_TRANSPORT_PROTOCOL },
    { "port",                       I32, N, 0 },
    { "receivedQualityEventRatio",  F32, N, 0 },
    { "reflexiveIPAddress",         S,   N, 0 },
    { "relayIPAddress",             S,   N, 0 },
    { "relayPort",                  I32, N, 0 },
    { "sentQualityEventRatio",      F32, N, 0 },
    { "subnet",                     S,   N, 0 },
    { "traceRouteHops",             OB,  A, GC_T_TRACE_ROUTE_HOP },
    { "wifiBand",                   EN,  0, GC_E_WIFI_BAND },
    { "wifiBatteryCharge",          I32, N, 0 },
    { "wifiChannel",                I32, N, 0 },
    { "wifiMicrosoftDriver",        S,   N, 0 },
    { "wifiMicrosoftDriverVersion", S,   N, 0 },
    { "wifiRadioType",              EN,  0, GC_E_WIFI_RADIO_TYPE },
    { "wifiSignalStrength",         I32, N, 0 },
    { "wifiVendorDriver",           S,   N, 0 },
    { "wifiVendorDriverVersion",    S,   N, 0 },
};

static const gc_prop p_trace_route_hop[] = {
    { "hopCount",               I32, N, 0 },
    { "ipAddress",              S,   N, 0 },
    { "roundTripTime",          TS,  N, 0 },
};

static const gc_prop p_media_stream[] = {
    { "audioCodec",                               EN,  N, GC_E_AUDIO_CODEC },
    { "averageAudioDegradation",                  F32, N, 0 },
    { "averageAudioNetworkJitter",                TS,  N, 0 },
    { "averageBandwidthEstimate",                 I64, N, 0 },
    { "averageFreezeDuration",                    TS,  N, 0 },
    { "averageJitter",                            TS,  N, 0 },
    { "averagePacketLossRate",                    F32, N, 0 },
    { "averageRatioOfConcealedSamples",           F32, N, 0 },
    { "averageReceivedFrameRate",                 F32, N, 0 },
    { "averageRoundTripTime",                     TS,  N, 0 },
    { "averageVideoFrameLossPercentage",          F32, N, 0 },
    { "averageVideoFrameRate",                    F32, N, 0 },
    { "averageVideoPacketLossRate",               F32, N, 0 },
    { "endDateTime",                              DT,  N, 0 },
    { "isAudioForwardErrorCorrectionUsed",        B,   N, 0 },
    { "lowFrameRateRatio",                        F32, N, 0 },
    { "lowVideoProcessingCapabilityRatio",        F32, N, 0 },
    { "maxAudioNetworkJitter",                    TS,  N, 0 },
    { "maxJitter",                                TS,  N, 0 },
    { "maxPacketLossRate",                        F32, N, 0 },
    { "maxRatioOfConcealedSamples",               F32, N, 0 },
    { "maxRoundTripTime",                         TS,  N, 0 },
    { "packetUtilization",                        I64, N, 0 },
    { "postForwardErrorCorrectionPacketLossRate", F32, N, 0 },
    { "rmsFreezeDuration",                        TS,  N, 0 },
    { "startDateTime",                            DT,  N, 0 },
    { "streamDirection",                          EN,  0, GC_E_MEDIA_STREAM_DIRECTION },
    { "streamId",                                 S,   N, 0 },
    { "videoCodec",                               EN,  N, GC_E_VIDEO_CODEC },
    { "wasMediaBypassed",                         B,   N, 0 },
};

static const gc_prop p_user_feedback[] = {
    { "rating",                 EN, 0,  GC_E_USER_FEEDBACK_RATING },
    { "text",                   S,  N,  0 },
    { "tokens",                 OB, N,  GC_T_FEEDBACK_TOKEN_SET },
};

static const gc_prop p_identity_set[] = {
    { "application",            OB, N,  GC_T_IDENTITY },
    { "device",                 OB, N,  GC_T_IDENTITY },
    { "user",                   OB, N,  GC_T_IDENTITY },
};

static const gc_prop p_communications_identity_set[] = {
    { "applicationInstance",            OB, N, GC_T_IDENTITY },
    { "assertedIdentity",               OB, N, GC_T_IDENTITY },
    { "azureCommunicationServicesUser", OB, N, GC_T_IDENTITY },
    { "encrypted",                      OB, N, GC_T_IDENTITY },
    { "endpointType",                   EN, N, GC_E_ENDPOINT_TYPE },
    { "guest",                          OB, N, GC_T_IDENTITY },
    { "onPremises",                     OB, N, GC_T_IDENTITY },
    { "phone",                          OB, N, GC_T_IDENTITY },
};

static const gc_prop p_identity[] = {
    { "displayName",            S,  N,  0 },
    { "id",                     S,  N,  0 },
};

static const gc_prop p_user_identity[] = {
    { "userPrincipalName",      S,  N,  0 },
};

/* microsoft.graph.userIdentity: a sibling of callRecords.userIdentity (both derive
 * from identity) that shares its userPrincipalName; see family_add. */
static const gc_prop p_graph_user_identity[] = {
    { "ipAddress",              S,  N,  0 },
    { "userPrincipalName",      S,  N,  0 },
};

/* ------------------------------------------------------------------ types */

#define CR "#microsoft.graph.callRecords."
#define PROPS(p) p, (int)(sizeof(p) / sizeof(p[0]))
const gc_type gc_types[GC_NTYPES] = {
    { "session",                   CR "session",              -1, 0, PROPS(p_session) },
    { "segment",                   CR "segment",              -1, 0, PROPS(p_segment) },
    { "endpoint",                  CR "endpoint",             -1, 0, PROPS(p_endpoint) },
    { "participantEndpoint",       CR "participantEndpoint",  GC_T_ENDPOINT, 0,
      PROPS(p_participant_endpoint) },
    { "serviceEndpoint",           CR "serviceEndpoint",      GC_T_ENDPOINT, 0, NULL, 0 },
    { "userAgent",                 CR "userAgent",            -1, 0, PROPS(p_user_agent) },
    { "clientUserAgent",           CR "clientUserAgent",      GC_T_USER_AGENT, 0,
      PROPS(p_client_user_agent) },
    { "serviceUserAgent",          CR "serviceUserAgent",     GC_T_USER_AGENT, 0,
      PROPS(p_service_user_agent) },
    { "failureInfo",               CR "failureInfo",          -1, 0, PROPS(p_failure_info) },
    { "media",                     CR "media",                -1, 0, PROPS(p_media) },
    { "deviceInfo",                CR "deviceInfo",           -1, 0, PROPS(p_device_info) },
    { "networkInfo",               CR "networkInfo",          -1, 0, PROPS(p_network_info) },
    { "traceRouteHop",             CR "traceRouteHop",        -1, 0, PROPS(p_trace_route_hop) },
    { "mediaStream",               CR "mediaStream",          -1, 0, PROPS(p_media_stream) },
    { "userFeedback",              CR "userFeedback",         -1, 0, PROPS(p_user_feedback) },
    { "feedbackTokenSet",          CR "feedbackTokenSet",     -1, 1, NULL, 0 },
    { "identitySet",               "#microsoft.graph.identitySet", -1, 0,
      PROPS(p_identity_set) },
    { "communicationsIdentitySet", "#microsoft.graph.communicationsIdentitySet",
      GC_T_IDENTITY_SET, 0, PROPS(p_communications_identity_set) },
    { "identity",                  "#microsoft.graph.identity", -1, 0, PROPS(p_identity) },
    { "userIdentity",              CR "userIdentity",         GC_T_IDENTITY, 0,
      PROPS(p_user_identity) },
    { "graph.userIdentity",        "#microsoft.graph.userIdentity", GC_T_IDENTITY, 0,
      PROPS(p_graph_user_identity) },
};

/* --------------------------------------------------------------- families */

static gc_family families[GC_NTYPES];

static int family_index(const gc_family *f, const char *name)
{
    int i;
    for (i = 0; i < f->n; i++)
        if (strcmp(f->props[i]->name, name) == 0)
            return i;
    return -1;
}

/* A name two derived types both declare (userPrincipalName on both userIdentity
 * types) is listed once, under the first: the lookup maps a name to one entry.
 * Such siblings must declare it alike (same kind, flags and ref). */
static void family_add(gc_family *f, int type)
{
    const gc_type *t = &gc_types[type];
    int i;
    for (i = 0; i < t->nprops && f->n < GC_FAMILY_MAX; i++) {
        if (family_index(f, t->props[i].name) >= 0)
            continue;
        f->props[f->n] = &t->props[i];
        f->namelen[f->n] = (unsigned char)strlen(t->props[i].name);
        f->owner[f->n++] = (unsigned char)type;
    }
}

/* A type's family: its base chain's properties, its own, then each derived
 * type's extras. */
static void family_build(int type)
{
    gc_family f;
    int chain[8], n = 0, t, i;
    f.n = 0;
    for (t = type; t >= 0 && n < 8; t = gc_types[t].base)
        chain[n++] = t;
    while (n > 0)
        family_add(&f, chain[--n]);
    for (i = 0; i < GC_NTYPES; i++)
        if (i != type && gc_type_is_a(i, type))
            family_add(&f, i);
    families[type] = f;
}

const gc_family *gc_family_of(int type)
{
    return &families[type];
}

int gc_type_is_a(int type, int ancestor)
{
    for (; type >= 0; type = gc_types[type].base)
        if (type == ancestor)
            return 1;
    return 0;
}

/* Whether an object of `type` may hold family entry i: it derives from the entry's
 * owner, or it or a base declares a property of that name (a sibling's, listed once). */
int gc_family_allows(const gc_family *f, int i, int type)
{
    int t, j;
    if (gc_type_is_a(type, f->owner[i]))
        return 1;
    for (t = type; t >= 0; t = gc_types[t].base)
        for (j = 0; j < gc_types[t].nprops; j++)
            if (strcmp(gc_types[t].props[j].name, f->props[i]->name) == 0)
                return 1;
    return 0;
}

static int name_is(const char *want, const char *s, size_t len)
{
    return strlen(want) == len && strncasecmp(want, s, len) == 0;
}

/* "session", "#microsoft.graph.callRecords.session" or without the '#'. */
int gc_type_by_name(const char *s, size_t len)
{
    int i;
    for (i = 0; i < GC_NTYPES; i++) {
        const char *od = gc_types[i].odata;
        if (name_is(gc_types[i].name, s, len) || name_is(od, s, len)
            || name_is(od + 1, s, len))
            return i;
    }
    return -1;
}

/* The slow path after an exact-spelling miss: a case-insensitive scan. */
int gc_lookup_fold(const gc_family *f, const char *key, size_t len)
{
    int i;
    for (i = 0; i < f->n; i++)
        if (name_is(f->props[i]->name, key, len))
            return i + 1;
    if (name_is("@odata.type", key, len))
        return GC_LK_ODATA;
    if (name_is("additionalProperties", key, len))
        return GC_LK_ADDPROP;
    return 0;
}

int gc_enum_fold(int e, const char *s, size_t len)
{
    const gc_enum *en = &gc_enums[e];
    int i;
    for (i = 0; i < en->nvalues; i++)
        if (name_is(en->values[i], s, len))
            return i;
    return -1;
}

/* ---------------------------------------------------------- lookup tables */

static void set_spelling(lua_State *L, const char *name, int variant, int value)
{
    char buf[128];
    size_t n = strlen(name), i;
    if (n >= sizeof buf)
        return;
    memcpy(buf, name, n + 1);
    if (variant == 1 && buf[0] >= 'a' && buf[0] <= 'z')
        buf[0] = (char)(buf[0] - 'a' + 'A');
    if (variant == 2)
        for (i = 0; i < n; i++)
            if (buf[i] >= 'A' && buf[i] <= 'Z')
                buf[i] = (char)(buf[i] - 'A' + 'a');
    lua_pushlstring(L, buf, n);
    lua_pushinteger(L, value);
    lua_rawset(L, -3);
}

/* Each name in its JSON, PascalCase and lower-case spellings: the exact hit
 * is one hash lookup of an interned string. */
static void push_family_lookup(lua_State *L, const gc_family *f)
{
    int i, v;
    lua_createtable(L, 0, f->n * 3 + 6);
    for (i = 0; i < f->n; i++)
        for (v = 0; v < 3; v++)
            set_spelling(L, f->props[i]->name, v, i + 1);
    for (v = 0; v < 3; v++) {
        set_spelling(L, "@odata.type", v, GC_LK_ODATA);
        set_spelling(L, "additionalProperties", v, GC_LK_ADDPROP);
    }
}

static void push_enum_lookup(lua_State *L, const gc_enum *e)
{
    int i, v;
    lua_createtable(L, 0, e->nvalues * 2);
    for (i = 0; i < e->nvalues; i++)
        for (v = 0; v < 3; v += 2)
            set_spelling(L, e->values[i], v, i + 1);
}

static void families_build(void)
{
    int i;
    for (i = 0; i < GC_NTYPES; i++)
        family_build(i);
}

static unsigned count_keys(lua_State *L, int t)
{
    unsigned n = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        n++;
        lua_pop(L, 1);
    }
    return n;
}

/* With the registry on top: its gc_keys userdata, filled from lookup tables
 * 1..GC_SCHEMA_TABLES (keys are strings, values non-zero integers). */
static void push_keys(lua_State *L)
{
    int reg = lua_gettop(L), t;
    unsigned cap[GC_SCHEMA_TABLES], total = 0;
    size_t size;
    gc_keys *k;
    for (t = 0; t < GC_SCHEMA_TABLES; t++) {
        unsigned n;
        lua_rawgeti(L, reg, t + 1);
        n = count_keys(L, lua_gettop(L));
        lua_pop(L, 1);
        for (cap[t] = 4; cap[t] < n + n / 2 + 1; cap[t] *= 2)
            ;
        total += cap[t];
    }
    /* one block: the header, the keys, the values */
    size = sizeof(gc_keys) + total * (sizeof(void *) + 1);
    k = (gc_keys *)lua_newuserdata(L, size);
    memset(k, 0, size);
    k->key = (const void **)(void *)(k + 1);
    k->value = (signed char *)(void *)(k->key + total);
    for (total = 0, t = 0; t < GC_SCHEMA_TABLES; t++) {
        k->off[t] = total;
        k->mask[t] = cap[t] - 1;
        total += cap[t];
        lua_rawgeti(L, reg, t + 1);
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            const void *p = lua_tostring(L, -2);
            unsigned i = gc_key_hash(p) & k->mask[t];
            while (k->key[k->off[t] + i] != NULL)
                i = (i + 1) & k->mask[t];
            k->key[k->off[t] + i] = p;
            k->value[k->off[t] + i] = (signed char)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

void gc_schema_push(lua_State *L)
{
    /* Once a process: nginx may open the module in several threads' states. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    int i;
    pthread_once(&once, families_build);
    lua_createtable(L, GC_SCHEMA_KEYS_SLOT, 0);
    for (i = 0; i < GC_NTYPES; i++) {
        push_family_lookup(L, &families[i]);
        lua_rawseti(L, -2, i + 1);
    }
    for (i = 0; i < GC_NENUMS; i++) {
        push_enum_lookup(L, &gc_enums[i]);
        lua_rawseti(L, -2, GC_SCHEMA_ENUM_SLOT(i));
    }
    push_keys(L);
    lua_rawseti(L, -2, GC_SCHEMA_KEYS_SLOT);
}
