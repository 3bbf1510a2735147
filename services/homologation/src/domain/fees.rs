//! The regulator's homologation fee schedule, by equipment category.

use fleuve_proto::common::v1 as common;
use fleuve_proto::homologation::v1 as pb;

/// Fees are invoiced in Central African CFA francs, which have no minor unit.
pub const CURRENCY: &str = "XAF";

/// The homologation fee of an equipment category.
///
/// `Unspecified` never reaches this function through a dossier, since the equipment is validated
/// at creation; it yields a zero amount rather than a panic.
pub fn fee_for(category: pb::EquipmentCategory) -> common::Money {
    let amount = match category {
        pb::EquipmentCategory::MobileTerminal => 250_000,
        pb::EquipmentCategory::RadioEquipment => 400_000,
        pb::EquipmentCategory::NetworkEquipment => 750_000,
        pb::EquipmentCategory::SatelliteTerminal => 500_000,
        pb::EquipmentCategory::Unspecified => 0,
    };
    common::Money { currency: CURRENCY.to_owned(), amount }
}
