"""Builds parcelwatch/data/network.yaml, the default demo network: real Chinese cities, one
transfer hub (转运中心) per city, two or three delivery outlets (网点) per city, and a
hub-and-spoke lane graph.

Lane hours = road distance / truck speed + loading time, where road distance is the
great-circle distance times a detour factor. Hubs connect to their nearest hubs, and a
backbone joins the national gateway hubs.

Planning data (CONTRACT §3): hubs plan 2 h from arrival to ready, outlets 1 h; outlets
deliver inside a courier window; every direction has a timetable (班次). Line-haul: four
departures a day on the backbone and short lanes, three on the rest, evenly spaced from
an hour that differs per lane, so that no parcel on plan waits 12 h at a hub (the wait
that makes STALLED_AT_FACILITY: at most 8 h between departures + 2 h handling). Vans:
outlet -> hub collection runs in the afternoon and evening, hub -> outlet feeder runs
through the night and morning ahead of the couriers. Xinjiang's facilities keep local
time (Asia/Urumqi, two hours behind Beijing), as the region's businesses do.

Run: python tools/build_network.py
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import yaml

DETOUR = 1.3  # road km per great-circle km
TRUCK_KMH = 70.0  # linehaul average incl. expressway stops
CITY_KMH = 25.0  # outlet <-> hub vans in city traffic
LOADING_H = 0.5
NEAREST_HUBS = 3
GATEWAYS = ["BJ", "SH", "GZ", "WH", "CD", "XA", "ZZ", "SY"]
SHORT_LANE_H = 6.0  # a line-haul lane this short runs as often as the backbone
HUB_HANDLING_H = 2
OUTLET_HANDLING_H = 1
COLLECTION = ["11:00", "14:00", "17:00", "20:00", "22:30"]  # outlet -> hub vans
FEEDER = ["01:00", "05:00", "08:00", "11:00", "14:00", "17:00", "20:00"]  # hub -> outlet
WINDOWS = [["08:00", "20:00"], ["08:30", "19:30"], ["09:00", "21:00"]]  # courier rounds
LOCAL_TIME = {"WLMQ": "Asia/Urumqi"}

# code, city, hub lat, hub lon, [(outlet code, district, lat offset, lon offset)]
CITIES = [
    (
        "BJ",
        "北京",
        39.90,
        116.40,
        [("CY", "朝阳", 0.02, 0.08), ("HD", "海淀", 0.06, -0.10), ("FT", "丰台", -0.05, -0.06)],
    ),
    (
        "SH",
        "上海",
        31.23,
        121.47,
        [("PD", "浦东", -0.01, 0.09), ("XH", "徐汇", -0.05, -0.03), ("MH", "闵行", -0.11, -0.09)],
    ),
    (
        "GZ",
        "广州",
        23.13,
        113.26,
        [("TH", "天河", 0.00, 0.10), ("BY", "白云", 0.08, 0.01), ("HZ", "海珠", -0.04, 0.05)],
    ),
    (
        "SZ",
        "深圳",
        22.64,
        114.03,
        [("NS", "南山", -0.11, -0.10), ("FT", "福田", -0.10, 0.03), ("LG", "龙岗", 0.08, 0.22)],
    ),
    ("HZ", "杭州", 30.27, 120.15, [("XH", "西湖", 0.00, -0.05), ("BJ", "滨江", -0.06, 0.05)]),
    ("NJ", "南京", 32.06, 118.80, [("GL", "鼓楼", 0.01, -0.05), ("JN", "江宁", -0.12, 0.03)]),
    ("WH", "武汉", 30.59, 114.31, [("WC", "武昌", -0.04, 0.03), ("HK", "汉口", 0.03, -0.04)]),
    ("CD", "成都", 30.57, 104.07, [("JJ", "锦江", 0.01, 0.02), ("WH", "武侯", -0.03, -0.03)]),
    ("CQ", "重庆", 29.56, 106.55, [("YZ", "渝中", 0.00, 0.02), ("JB", "江北", 0.05, 0.03)]),
    ("XA", "西安", 34.34, 108.94, [("YT", "雁塔", -0.05, 0.01), ("WY", "未央", 0.07, 0.00)]),
    ("ZZ", "郑州", 34.75, 113.63, [("JS", "金水", 0.02, 0.04), ("ZY", "中原", 0.00, -0.06)]),
    ("CS", "长沙", 28.23, 112.94, [("YL", "岳麓", 0.00, -0.06), ("FR", "芙蓉", 0.00, 0.04)]),
    ("TJ", "天津", 39.13, 117.20, [("HP", "和平", -0.01, 0.00), ("BH", "滨海", -0.10, 0.50)]),
    ("SY", "沈阳", 41.81, 123.43, [("HP", "和平", -0.02, -0.01), ("HN", "浑南", -0.08, 0.06)]),
    ("JN", "济南", 36.65, 117.12, [("LX", "历下", 0.00, 0.04), ("HY", "槐荫", 0.01, -0.07)]),
    ("QD", "青岛", 36.07, 120.38, [("SN", "市南", -0.01, -0.02), ("LS", "崂山", 0.04, 0.09)]),
    ("HF", "合肥", 31.82, 117.23, [("SS", "蜀山", -0.01, -0.07), ("BH", "包河", -0.05, 0.05)]),
    ("FZ", "福州", 26.07, 119.30, [("GL", "鼓楼", 0.02, 0.00), ("CS", "仓山", -0.05, 0.01)]),
    ("XM", "厦门", 24.48, 118.09, [("SM", "思明", -0.02, 0.04), ("HL", "湖里", 0.03, 0.02)]),
    ("NC", "南昌", 28.68, 115.86, [("DH", "东湖", 0.00, 0.03), ("HGS", "红谷滩", 0.01, -0.05)]),
    ("KM", "昆明", 25.04, 102.71, [("WH", "五华", 0.01, -0.02), ("GD", "官渡", -0.03, 0.05)]),
    ("GY", "贵阳", 26.65, 106.63, [("YY", "云岩", 0.02, 0.00), ("NM", "南明", -0.03, 0.02)]),
    ("NN", "南宁", 22.82, 108.37, [("QX", "青秀", 0.00, 0.06), ("XX", "兴宁", 0.03, -0.01)]),
    ("TY", "太原", 37.87, 112.55, [("XD", "小店", -0.06, 0.03), ("YZ", "迎泽", 0.00, 0.02)]),
    ("SJZ", "石家庄", 38.04, 114.51, [("CA", "长安", 0.02, 0.03), ("QX", "桥西", -0.02, -0.03)]),
    ("HEB", "哈尔滨", 45.80, 126.53, [("NG", "南岗", -0.04, 0.06), ("DL", "道里", 0.01, -0.03)]),
    ("CC", "长春", 43.82, 125.32, [("CY", "朝阳", -0.02, -0.04), ("NG", "南关", -0.03, 0.02)]),
    ("LZ", "兰州", 36.06, 103.83, [("CG", "城关", 0.00, 0.04), ("QLH", "七里河", -0.01, -0.04)]),
    (
        "WLMQ",
        "乌鲁木齐",
        43.83,
        87.62,
        [("TS", "天山", -0.03, 0.02), ("SY", "沙依巴克", 0.00, -0.04)],
    ),
    ("HHHT", "呼和浩特", 40.84, 111.75, [("XC", "新城", 0.02, 0.03), ("HM", "回民", 0.01, -0.04)]),
    ("SUZ", "苏州", 31.30, 120.59, [("GS", "姑苏", 0.01, 0.02), ("YQ", "园区", 0.01, 0.12)]),
    ("NB", "宁波", 29.87, 121.55, [("HS", "海曙", 0.00, -0.02), ("YZ", "鄞州", -0.05, 0.03)]),
    ("DG", "东莞", 23.02, 113.75, [("NC", "南城", -0.03, 0.00), ("CA", "长安", -0.20, -0.12)]),
    ("HK", "海口", 20.04, 110.34, [("LH", "龙华", -0.01, -0.01), ("Ml", "美兰", 0.00, 0.05)]),
    ("YC", "银川", 38.49, 106.23, [("XQ", "兴庆", 0.00, 0.05), ("JF", "金凤", 0.01, -0.05)]),
]


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def lane_hours(a: tuple[float, float], b: tuple[float, float], speed: float) -> float:
    return round(great_circle_km(a, b) * DETOUR / speed + LOADING_H, 1)


def _clock(minutes: int) -> str:
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def linehaul_departures(a: str, b: str, per_day: int) -> list[str]:
    """`per_day` evenly spaced departures from an hour that depends on the lane, in half
    hours, so that trucks of different lanes do not all leave at once."""
    start = zlib.crc32(f"{a}>{b}".encode()) % (24 * 60 // per_day // 30) * 30
    return [_clock(start + k * 24 * 60 // per_day) for k in range(per_day)]


def build() -> dict:
    facilities, lanes, schedules = [], [], []
    hubs = {}
    for code, city, lat, lon, outlets in CITIES:
        hub_id = f"{code}-HUB"
        hubs[code] = (lat, lon)
        tz = LOCAL_TIME.get(code)
        local = {"tz": tz} if tz else {}
        facilities.append(
            {
                "id": hub_id,
                "name": f"{city}转运中心",
                "kind": "hub",
                "city": city,
                "lat": lat,
                "lon": lon,
                "handling_hours": HUB_HANDLING_H,
                **local,
            }
        )
        for ocode, district, dlat, dlon in outlets:
            pos = (round(lat + dlat, 4), round(lon + dlon, 4))
            oid = f"{code}-{ocode.upper()}"
            facilities.append(
                {
                    "id": oid,
                    "name": f"{city}{district}网点",
                    "kind": "outlet",
                    "city": city,
                    "lat": pos[0],
                    "lon": pos[1],
                    "handling_hours": OUTLET_HANDLING_H,
                    "delivery_window": WINDOWS[zlib.crc32(oid.encode()) % len(WINDOWS)],
                    **local,
                }
            )
            lanes.append(
                {"from": oid, "to": hub_id, "hours": lane_hours(pos, (lat, lon), CITY_KMH)}
            )
            schedules.append({"from": oid, "to": hub_id, "departures": COLLECTION})
            schedules.append({"from": hub_id, "to": oid, "departures": FEEDER})
    pairs: set[tuple[str, str]] = set()
    for code, pos in hubs.items():
        others = sorted((great_circle_km(pos, p), c) for c, p in hubs.items() if c != code)
        for _, other in others[:NEAREST_HUBS]:
            pairs.add(tuple(sorted((code, other))))
    for i, a in enumerate(GATEWAYS):
        for b in GATEWAYS[i + 1 :]:
            pairs.add(tuple(sorted((a, b))))
    for a, b in sorted(pairs):
        hours = lane_hours(hubs[a], hubs[b], TRUCK_KMH)
        lanes.append({"from": f"{a}-HUB", "to": f"{b}-HUB", "hours": hours})
        busy = (a in GATEWAYS and b in GATEWAYS) or hours <= SHORT_LANE_H
        for x, y in ((a, b), (b, a)):
            departures = linehaul_departures(x, y, 4 if busy else 3)
            schedules.append({"from": f"{x}-HUB", "to": f"{y}-HUB", "departures": departures})
    return {"facilities": facilities, "lanes": lanes, "schedules": schedules}


class _PlainDumper(yaml.SafeDumper):
    """Writes a shared list (a window, a van timetable) out in full at every use, not
    as YAML anchors and aliases: the file is read by people too."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def main() -> None:
    out = Path(__file__).resolve().parents[1] / "parcelwatch" / "data" / "network.yaml"
    header = "# Default demo network, generated by tools/build_network.py - edit that, not this.\n"
    body = yaml.dump(
        build(),
        Dumper=_PlainDumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=None,
        width=200,
    )
    out.write_text(header + body, encoding="utf-8")
    print(out)


if __name__ == "__main__":
    main()
