//! Structs that must be JSON objects. serde's derives also accept a sequence for a struct
//! (`[640, 480, "rgba8", …]` as an image reference, `[]` as mask modifiers), which the protocol
//! does not allow: a value of these types is read only from an object, and anything else gets
//! an error that says what the field takes (the path is added by the frame parser).

/// `impl Deserialize for $ty` that reads an object only, through `$def`, a
/// `#[serde(remote = "$ty")]` copy of `$ty` that derives the field handling.
macro_rules! object_only {
    ($ty:ty, $def:ty, $expecting:expr) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$ty, A::Error> {
                        <$def>::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(ObjectVisitor)
            }
        }
    };
}

pub(crate) use object_only;
