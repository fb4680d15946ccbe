"""Ticket (工单) routing and wording (CONTRACT §5).

Routing table: which department owns each exception type and how urgent it is.
"Last mile" MISSED_SCAN — a scan missing at an outlet, including an unresolved
OUT_FOR_DELIVERY — goes to the delivery station; at a hub to hub operations.
"""

from __future__ import annotations

from typing import Any

from parcelwatch.detection.context import is_express
from parcelwatch.detection.state import Episode, WaybillState
from parcelwatch.network.graph import Network

NO_TICKET = frozenset({"DELAY_PREDICTED"})


def route(w: WaybillState, ep: Episode, network: Network) -> tuple[str, str]:
    """(department, priority) for an episode."""
    kind = ep.type
    facility = network.get(ep.facility) if ep.facility else None
    at_outlet = facility is not None and not facility.is_hub
    insured = w.insured_value > 0
    if kind == "DAMAGED":
        return "CLAIMS", "P1" if insured or w.damage_rank >= 2 else "P2"
    if kind == "LOST_SUSPECTED":
        return "CLAIMS", "P1" if insured else "P2"
    if kind == "STALLED_AT_FACILITY":
        return ("DELIVERY_STATION" if at_outlet else "HUB_OPERATIONS"), (
            "P1" if is_express(w) else "P2"
        )
    if kind == "STALLED_IN_TRANSIT":
        return "LINEHAUL", "P2"
    if kind == "MISROUTED":
        return "HUB_OPERATIONS", "P2"
    if kind == "MISSED_SCAN":
        return ("DELIVERY_STATION" if at_outlet else "HUB_OPERATIONS"), "P3"
    if kind == "DELIVERY_FAILED":
        return "DELIVERY_STATION", "P2" if w.failures >= 2 else "P3"
    if kind == "DELAYED":
        return "CUSTOMER_SERVICE", "P2" if is_express(w) else "P3"
    if kind == "PICKUP_OVERDUE":
        return "DELIVERY_STATION", "P3"
    raise ValueError(f"no ticket routing for {kind}")


_SUMMARY = {
    "zh-CN": {
        "PICKUP_OVERDUE": "运单 {wb} 下单后超时未揽收({site})",
        "MISSED_SCAN": "运单 {wb} 在 {site} 缺少应有的扫描",
        "STALLED_AT_FACILITY": "运单 {wb} 在 {site} 滞留超时",
        "STALLED_IN_TRANSIT": "运单 {wb} 所在车辆 {vehicle} 途中停滞或失去定位",
        "DELAYED": "运单 {wb} 已超过承诺时效未妥投",
        "LOST_SUSPECTED": "运单 {wb} 长时间无轨迹,疑似遗失(最后位置 {site})",
        "DAMAGED": "运单 {wb} 在 {site} 报告破损({detail})",
        "DELIVERY_FAILED": "运单 {wb} 派送失败 {detail} 次",
        "MISROUTED": "运单 {wb} 错分至 {site}",
    },
    "en": {
        "PICKUP_OVERDUE": "Waybill {wb} not picked up in time ({site})",
        "MISSED_SCAN": "Waybill {wb} is missing an expected scan at {site}",
        "STALLED_AT_FACILITY": "Waybill {wb} has stalled at {site}",
        "STALLED_IN_TRANSIT": "Waybill {wb}: vehicle {vehicle} stalled or lost GPS in transit",
        "DELAYED": "Waybill {wb} missed its promised delivery time",
        "LOST_SUSPECTED": "Waybill {wb} has had no scan for too long (last at {site})",
        "DAMAGED": "Waybill {wb} reported damaged at {site} ({detail})",
        "DELIVERY_FAILED": "Waybill {wb}: delivery failed {detail} time(s)",
        "MISROUTED": "Waybill {wb} mis-sorted to {site}",
    },
}

_ACTIONS = {
    "zh-CN": {
        "PICKUP_OVERDUE": ["联系揽收网点安排快递员上门取件", "揽收后更新预计送达时间并告知客户"],
        "MISSED_SCAN": ["在该站点查找包裹并补扫", "核对车辆卸货记录与装车清单"],
        "STALLED_AT_FACILITY": ["现场查找包裹并安排最近一班发运", "核实滞留原因并在工单中记录"],
        "STALLED_IN_TRANSIT": ["联系司机确认车辆状况与位置", "必要时安排接驳车辆转运"],
        "DELAYED": ["联系客户说明新的预计送达时间", "协调目的网点优先派送", "按规定处理运费减免"],
        "LOST_SUSPECTED": [
            "立即在最后扫描站点及沿途启动查找",
            "核对装卸车记录与监控",
            "48 小时内未找回则启动赔付",
        ],
        "DAMAGED": ["拍照留存并登记破损情况", "启动理赔流程(保价件优先)", "联系客户确认处理方案"],
        "DELIVERY_FAILED": ["联系收件人确认再次派送时间与地址", "安排再次派送"],
        "MISROUTED": ["将包裹改发至正确的下一站", "核查分拣错误原因"],
    },
    "en": {
        "PICKUP_OVERDUE": [
            "Ask the origin outlet to send a courier for pickup",
            "Update the customer's expected delivery time after pickup",
        ],
        "MISSED_SCAN": [
            "Locate the parcel at the site and scan it",
            "Check the vehicle's unloading record against its manifest",
        ],
        "STALLED_AT_FACILITY": [
            "Locate the parcel and put it on the next departure",
            "Record the cause of the stall on the ticket",
        ],
        "STALLED_IN_TRANSIT": [
            "Call the driver to confirm the vehicle's condition and position",
            "Send a relief vehicle if needed",
        ],
        "DELAYED": [
            "Tell the customer the new expected delivery time",
            "Ask the destination outlet to deliver with priority",
            "Apply the delay fee waiver",
        ],
        "LOST_SUSPECTED": [
            "Start a search at the last scanned site and along the lane",
            "Check loading records and CCTV",
            "Start compensation if not found within 48 hours",
        ],
        "DAMAGED": [
            "Photograph and record the damage",
            "Open the claim (insured items first)",
            "Agree a resolution with the customer",
        ],
        "DELIVERY_FAILED": [
            "Call the recipient to confirm a new delivery time and address",
            "Schedule another delivery attempt",
        ],
        "MISROUTED": [
            "Forward the parcel to its correct next facility",
            "Find the cause of the mis-sort",
        ],
    },
}


def summary(
    w: WaybillState, ep: Episode, evidence: dict[str, Any], locale: str, network: Network
) -> str:
    if ep.type == "DAMAGED":
        detail = evidence.get("damage", "")
    elif ep.type == "DELIVERY_FAILED":
        detail = str(w.failures)
    else:
        detail = ""
    return _SUMMARY[locale][ep.type].format(
        wb=w.waybill_no,
        site=_site(ep.facility, network),
        vehicle=ep.vehicle or "-",
        detail=detail,
    )


def suggested_actions(ep: Episode, locale: str) -> list[str]:
    return list(_ACTIONS[locale][ep.type])


def _site(facility_id: str | None, network: Network) -> str:
    facility = network.get(facility_id) if facility_id else None
    return f"{facility.name}({facility.id})" if facility else (facility_id or "-")
