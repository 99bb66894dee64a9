"""Write a small MaxMind-format City database, for the email tests.

The real GeoLite2 City database is not free to redistribute, so the test writes one of
the same shape with mmdb-writer (a third-party MaxMind DB writer from PyPI): an IPv6
tree with the IPv4 space mapped into it, `GeoIP2-City` records with English names.

    write_geoip.py OUT.mmdb
"""
import sys

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Documentation-style public networks (not private, so Latchkey looks them up).
PLACES = [
    ("81.2.69.0/24", "London", "United Kingdom", "GB"),
    ("2a02:cf40::/29", "Oslo", "Norway", "NO"),
    # A network known only by its country.
    ("89.160.20.0/24", None, "Sweden", "SE"),
]


def record(city, country, iso):
    rec = {"country": {"iso_code": iso, "names": {"en": country, "de": country + "-de"}}}
    if city:
        rec["city"] = {"names": {"en": city, "fr": city + "-fr"}}
    return rec


def main(out):
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["en", "de", "fr"],
        description="Latchkey test City database",
    )
    for net, city, country, iso in PLACES:
        writer.insert_network(IPSet([net]), record(city, country, iso))
    writer.to_db_file(out)


if __name__ == "__main__":
    main(sys.argv[1])
