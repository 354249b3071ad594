"""Address rules: ISO 3166-1 country, required fields, postal-code shape per country."""

from __future__ import annotations

import re

from contracts.common import Address
from services.errors import Invalid

#: ISO 3166-1 alpha-2 codes in use.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK
    DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR
    GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM
    KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP
    MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST
    SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG
    VI VN VU WF WS YE YT ZA ZM ZW""".split()  # noqa: SIM905
)

#: Postal-code shapes of the countries in the seeded tax table (and a few neighbours).
POSTAL_CODES: dict[str, re.Pattern[str]] = {
    country: re.compile(pattern)
    for country, pattern in {
        "DE": r"^\d{5}$",
        "FR": r"^\d{5}$",
        "IT": r"^\d{5}$",
        "ES": r"^\d{5}$",
        "KW": r"^\d{5}$",
        "AT": r"^\d{4}$",
        "BE": r"^\d{4}$",
        "CH": r"^\d{4}$",
        "NL": r"^\d{4} ?[A-Z]{2}$",
        "SE": r"^\d{3} ?\d{2}$",
        "PL": r"^\d{2}-\d{3}$",
        "IE": r"^[A-Z]\d[\dW] ?[A-Z\d]{4}$",
        "GB": r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$",
        "US": r"^\d{5}(-\d{4})?$",
        "JP": r"^\d{3}-?\d{4}$",
    }.items()
}


def validate_address(address: Address, field: str = "address") -> None:
    """Refuse an address a carrier could not deliver to, naming the field at fault."""
    if address.country not in COUNTRIES:
        raise Invalid(
            f"{field}.country '{address.country}' is not an ISO 3166-1 alpha-2 country code",
            field=f"{field}.country",
        )
    shape = POSTAL_CODES.get(address.country)
    if shape is None:
        return
    code = (address.postal_code or "").strip().upper()
    if not code:
        raise Invalid(
            f"{field}.postal_code is required for {address.country}", field=f"{field}.postal_code"
        )
    if not shape.match(code):
        raise Invalid(
            f"{field}.postal_code '{address.postal_code}' is not a valid {address.country} postal code",
            field=f"{field}.postal_code",
        )
