"""Payload models of the push services.

What the provider documents is typed; everything else passes through untouched
(``extra="allow"``), so a new provider field never breaks delivery. The models only
*validate*: telepush stores and delivers the accepted bytes unchanged.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Open(BaseModel):
    """A JSON object whose known fields are checked and whose other fields pass through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


Number = float | None
Text = str | None
NumberList = list[float | None] | None


# ---- trip ---------------------------------------------------------------------------------


class ItineraryData(Open):
    startDate: Text = None
    endDate: Text = None
    departureAddress: Text = None
    departureCity: Text = None
    departurePostalCode: Text = None
    departureState: Text = None
    departureCountry: Text = None
    arrivalAddress: Text = None
    arrivalCity: Text = None
    arrivalPostalCode: Text = None
    arrivalState: Text = None
    arrivalCountry: Text = None


class ItineraryStatistics(Open):
    tripDuration: Number = None
    drivingDuration: Number = None
    idlingDuration: Number = None
    drivingPercentage: Number = None
    idlingPercentage: Number = None
    distance: Number = None
    speedMean: Number = None
    subdispNb: Number = None
    meteo: Number = None
    day: bool | None = None
    weekDay: bool | None = None
    transportationMode: Number = None


class EcoDriving(Open):
    score: Number = None
    scoreAccel: Number = None
    scoreMain: Number = None
    scoreDecel: Number = None
    stdDevAccel: Number = None
    stdDevMain: Number = None
    stdDevDecel: Number = None
    energyClass: Number = None


class FuelEstimation(Open):
    co2Mass: Number = None
    co2Emission: Number = None
    fuelVolume: Number = None
    fuelConsumption: Number = None
    idleFuelVolume: Number = None


class Safety(Open):
    nbAdh: Number = None
    nbAccel: Number = None
    nbDecel: Number = None
    nbAdhCrit: Number = None
    nbAccelCrit: Number = None
    nbDecelCrit: Number = None
    safetyScore: Number = None


class Pollutants(Open):
    co: Number = None
    hc: Number = None
    nox: Number = None
    soot: Number = None


class Route(Open):
    """Raw sensor tables: parallel arrays, one value per GPS fix."""

    gpsDate: NumberList = None
    latitude: NumberList = None
    longitude: NumberList = None
    gpsVelocity: NumberList = None
    gpsAccuracy: NumberList = None
    gpsElevation: NumberList = None
    gpsHeading: NumberList = None


class AdvancedEcoDriving(Open):
    ecoDrivingContext: list[dict[str, Any]] | None = None


class AdvancedFuelEstimation(Open):
    fuelEstimationContext: list[dict[str, Any]] | None = None


class AdvancedSafety(Open):
    safetyContext: list[dict[str, Any]] | None = None


class Trip(Open):
    itinId: str = Field(min_length=1)
    userId: Text = None
    firstname: Text = None
    lastname: Text = None
    endDate: Text = None
    itineraryData: ItineraryData | None = None
    itineraryStatistics: ItineraryStatistics | None = None
    ecoDriving: EcoDriving | None = None
    fuelEstimation: FuelEstimation | None = None
    safety: Safety | None = None
    advancedEcoDriving: AdvancedEcoDriving | None = None
    advancedFuelEstimation: AdvancedFuelEstimation | None = None
    advancedSafety: AdvancedSafety | None = None
    pollutants: Pollutants | None = None
    safetyEvents: list[dict[str, Any]] | None = None
    callEvents: list[dict[str, Any]] | None = None
    speedingEvents: list[dict[str, Any]] | None = None
    route: Route | None = None


# ---- deleted-trip -------------------------------------------------------------------------

# The provider's format is yyyy-MM-dd'T'HH:mm:ss.SSSZ (2025-01-30T07:23:22.000+0000);
# ISO 8601 with "Z" or "+00:00" is accepted as well.
_PROVIDER_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})$"
)


class DeletedTrip(Open):
    itinId: str = Field(min_length=1)
    event: Literal["TRIP_DELETION"]
    date: str

    @field_validator("date")
    @classmethod
    def _provider_date(cls, value: str) -> str:
        if not _PROVIDER_DATE.match(value):
            raise ValueError(
                "expected a date like 2025-01-30T07:23:22.000+0000 (yyyy-MM-dd'T'HH:mm:ss.SSSZ)"
            )
        return value


# ---- crash --------------------------------------------------------------------------------


class CrashParameters(Open):
    localTripId: Text = None
    date: Number | str = None
    tripStartDate: Number | str = None
    gpsWindowPos: Number = None
    gpsWindowNeg: Number = None
    imuWindowPos: Number = None
    imuWindowNeg: Number = None
    imuFrequency: Number = None


class Crash(Open):
    crashId: str = Field(min_length=1)
    customerId: Text = None
    driverId: Text = None
    userId: Text = None
    parameters: CrashParameters | None = None
    probability: Number = None
    latitude: Number = None
    longitude: Number = None
    velocity: Number = None
    crashStatus: Literal["CONFIRMED", "UNCONFIRMED"] | None = None


# ---- crash-report -------------------------------------------------------------------------


class CrashReport(Open):
    info: dict[str, Any] | None = None
    tripConditions: dict[str, Any] | None = None
    driverFatigue: dict[str, Any] | None = None
    aggressiveDriving: dict[str, Any] | None = None
    phoneUsage: dict[str, Any] | None = None
    riskFactors: dict[str, Any] | None = None


# ---- diagnosis ----------------------------------------------------------------------------


class SmartphoneData(Open):
    phoneModel: Text = None
    appBuildNumber: Text | int = None
    appVersion: Text = None
    osType: Text = None
    osVersion: Text = None
    sdkVersion: Text = None


class Diagnosis(Open):
    userId: str = Field(min_length=1)
    date: Text = None
    smartphoneData: SmartphoneData | None = None
