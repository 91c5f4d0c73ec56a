"""Fixed vocabularies of the synthetic generator: cities, streets, names, phones."""

from __future__ import annotations

from typing import NamedTuple


class City(NamedTuple):
    name: str
    postal_code: str
    state: str
    country: str
    latitude: float
    longitude: float
    elevation: float


CITIES: tuple[City, ...] = (
    City("Paris", "75011", "Ile-de-France", "France", 48.8589, 2.3794, 45.0),
    City("Lyon", "69003", "Auvergne-Rhone-Alpes", "France", 45.7597, 4.8422, 170.0),
    City("Marseille", "13006", "Provence-Alpes-Cote d'Azur", "France", 43.2884, 5.3800, 30.0),
    City("Toulouse", "31000", "Occitanie", "France", 43.6045, 1.4440, 146.0),
    City("Nantes", "44000", "Pays de la Loire", "France", 47.2184, -1.5536, 20.0),
    City("Lille", "59000", "Hauts-de-France", "France", 50.6292, 3.0573, 25.0),
    City("Bordeaux", "33000", "Nouvelle-Aquitaine", "France", 44.8378, -0.5792, 12.0),
    City("Strasbourg", "67000", "Grand Est", "France", 48.5734, 7.7521, 142.0),
    City("Madrid", "28013", "Comunidad de Madrid", "Spain", 40.4168, -3.7038, 657.0),
    City("Milano", "20121", "Lombardia", "Italy", 45.4642, 9.1900, 120.0),
    City("Munchen", "80331", "Bayern", "Germany", 48.1351, 11.5820, 519.0),
    City("Bruxelles", "1000", "Bruxelles-Capitale", "Belgium", 50.8503, 4.3517, 76.0),
)

STREETS: tuple[str, ...] = (
    "Rue de la Republique",
    "Avenue Jean Jaures",
    "Boulevard Victor Hugo",
    "Rue du Moulin",
    "Place de la Gare",
    "Chemin des Vignes",
    "Rue Pasteur",
    "Allee des Tilleuls",
    "Route Nationale",
    "Quai des Bateliers",
)

FIRST_NAMES: tuple[str, ...] = (
    "Camille",
    "Lucas",
    "Emma",
    "Hugo",
    "Lea",
    "Nathan",
    "Chloe",
    "Louis",
    "Ines",
    "Jules",
    "Sofia",
    "Marco",
)

LAST_NAMES: tuple[str, ...] = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Garcia",
    "Rossi",
)

PHONES: tuple[tuple[str, str, str], ...] = (
    ("iPhone15,2", "iOS", "17.5.1"),
    ("iPhone14,5", "iOS", "16.7.8"),
    ("iPhone16,1", "iOS", "18.1"),
    ("SM-S918B", "ANDROID", "14"),
    ("Pixel 8", "ANDROID", "15"),
    ("SM-A546B", "ANDROID", "13"),
    ("M2101K6G", "ANDROID", "12"),
)

SDK_VERSIONS: tuple[str, ...] = ("2.4.0", "2.5.1", "2.6.0")
APP_VERSIONS: tuple[str, ...] = ("3.12.0", "3.13.2", "4.0.1")
