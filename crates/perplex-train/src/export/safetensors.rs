//! Writing a safetensors file: an 8-byte little-endian header length, a JSON header naming
//! each tensor's dtype, shape and byte range, then the tensors' bytes, little-endian.

use serde_json::{Map, Value, json};

/// One named `f32` tensor.
pub struct NamedTensor {
    /// Its name in the file.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// The bytes of a safetensors file holding `tensors` and the string `metadata`.
pub fn to_bytes(tensors: &[NamedTensor], metadata: &[(&str, &str)]) -> Vec<u8> {
    let mut header = Map::new();
    let meta: Map<String, Value> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    header.insert("__metadata__".into(), Value::Object(meta));
    let mut offset = 0usize;
    for t in tensors {
        let end = offset + 4 * t.values.len();
        header.insert(
            t.name.clone(),
            json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut head = serde_json::to_vec(&Value::Object(header)).expect("a header serialises");
    // The data that follows starts on an 8-byte boundary, as the format recommends.
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + head.len() + offset);
    bytes.extend_from_slice(&(head.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&head);
    for t in tensors {
        for v in &t.values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_each_tensor_s_bytes_and_the_data_follows_aligned() {
        let tensors = [
            NamedTensor {
                name: "a".into(),
                shape: vec![2],
                values: vec![1.0, -2.0],
            },
            NamedTensor {
                name: "b".into(),
                shape: vec![1, 1],
                values: vec![0.5],
            },
        ];
        let bytes = to_bytes(&tensors, &[("format", "pt")]);
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!((8 + n) % 8, 0);
        let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(header["b"]["data_offsets"], json!([8, 12]));
        assert_eq!(header["__metadata__"]["format"], "pt");
        let data = &bytes[8 + n..];
        assert_eq!(data.len(), 12);
        assert_eq!(f32::from_le_bytes(data[4..8].try_into().unwrap()), -2.0);
    }
}
