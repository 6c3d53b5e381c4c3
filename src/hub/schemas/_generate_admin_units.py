"""Write admin-units-2025.json: the units since 1 July 2025, those before, the conversion.

Everything comes from the `vietnam-provinces` package: the 34 provinces and their wards
in force since the reorganisation, the 63 provinces with their districts and wards
before it, and the official old-to-new conversion table. The releases that publish the
units before 2025 and the conversion need Python 3.12 or newer, and the release for
Python 3.11 has older data for the current units, so one release is snapshotted here,
whole, and every part of the project (the hub, the mocks) reads this one file.
Regenerate with:

    uv run --no-project --python 3.12 --with vietnam-provinces==2026.9.0 \
        python src/hub/schemas/_generate_admin_units.py
"""

import json
from pathlib import Path

import vietnam_provinces
from vietnam_provinces import _province_conversion_2025 as province_conversion
from vietnam_provinces import _ward_conversion_2025 as ward_conversion
from vietnam_provinces import legacy

OUT = Path(__file__).with_name("admin-units-2025.json")


def main() -> None:
    current_provinces = [
        {"code": int(p.code), "name": p.name, "type": str(p.division_type.value)}
        for p in vietnam_provinces.Province.iter_all()
    ]
    current_wards = [
        {
            "code": int(w.code),
            "name": w.name,
            "type": str(w.division_type.value),
            "province": int(w.province_code),
        }
        for w in vietnam_provinces.Ward.iter_all()
    ]
    provinces = [
        {"code": int(p.code), "name": p.name, "type": str(p.division_type)}
        for p in legacy.Province.iter_all()
    ]
    districts = [
        {
            "code": int(d.code),
            "name": d.name,
            "type": str(d.division_type),
            "province": int(d.province_code),
        }
        for d in legacy.District.iter_all()
    ]
    wards = [
        {
            "code": int(w.code),
            "name": w.name,
            "type": str(w.division_type),
            "district": int(w.district_code),
            "province": int(w.province_code),
        }
        for w in legacy.Ward.iter_all()
    ]
    province_map = {
        str(old): [int(n.code) for n in entry.new_provinces]
        for old, entry in sorted(province_conversion.OLD_TO_NEW.items())
    }
    ward_map = [
        {
            "old": old,
            "new": [int(n.code) for n in entry.new_wards],
            "partly": entry.old_ward.is_partly_merged,
        }
        for old, entry in sorted(ward_conversion.OLD_TO_NEW.items())
    ]
    document = {
        "source": f"vietnam-provinces {vietnam_provinces.__version__}",
        "effective_date": ward_conversion.EFFECTIVE_DATE,
        "current": {"provinces": current_provinces, "wards": current_wards},
        "legacy": {"provinces": provinces, "districts": districts, "wards": wards},
        "conversion": {"provinces": province_map, "wards": ward_map},
    }
    # One unit a line: small diffs when the package publishes a correction.
    text = json.dumps(document, ensure_ascii=False, indent=None, separators=(",", ":"))
    for key in ('{"code"', '{"old"'):
        text = text.replace(key, "\n" + key)
    OUT.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
