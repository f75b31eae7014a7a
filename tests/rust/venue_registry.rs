//! The venue registry's limits, in a process of their own: filling it would leave no room for
//! the library's unit tests.

use std::collections::HashSet;

use tickwire::model::registry::CAPACITY;
use tickwire::model::{RegistryError, SymbolSeparator, Venue, VenueTraits};

#[test]
fn racing_registrations_agree_and_a_full_registry_is_an_error() {
    let traits = VenueTraits { symbol_separator: SymbolSeparator::Hyphen, book_sync: None };
    let raced: Vec<Venue> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| Venue::register("raced", traits))).collect();
        handles.into_iter().map(|handle| handle.join().unwrap().unwrap()).collect()
    });
    assert!(raced.iter().all(|&venue| venue == raced[0]), "one venue, whoever won");

    let mut ordinals: HashSet<u8> = Venue::ALL.iter().map(|venue| venue.ordinal()).collect();
    ordinals.insert(raced[0].ordinal());
    for index in 1..CAPACITY {
        let venue = Venue::register(&format!("venue-{index}"), traits).unwrap();
        assert!(ordinals.insert(venue.ordinal()), "{venue}: ordinals are distinct");
    }
    assert!(ordinals.iter().all(|&ordinal| ordinal < 64));
    assert_eq!(
        Venue::register("one-too-many", traits),
        Err(RegistryError::Full { name: "one-too-many".into() })
    );
    assert_eq!(Venue::register("raced", traits), Ok(raced[0]), "a registered name still resolves");
    assert_eq!("venue-7".parse::<Venue>().map(Venue::as_str), Ok("venue-7"));
}
