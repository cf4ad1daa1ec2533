//! The validation pass: every token of a split, in eval mode, summed exactly.

use burn::tensor::{Device, Int, Tensor, TensorData};
use perplex_data::{TokenBatch, eval_batches};
use perplex_model::Gpt;
use perplex_monitor::NllSum;

/// Input and target tensors of a batch, `[rows, cols]` each.
pub fn batch_tensors(batch: &TokenBatch, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let shape = [batch.rows, batch.cols];
    let to_tensor = |ids: &[u32]| {
        let ids: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        Tensor::from_data(TensorData::new(ids, shape), device)
    };
    (to_tensor(&batch.inputs), to_tensor(&batch.targets))
}

/// Sums the NLL of every predictable token of `stream` (all but the first) under `model`,
/// which must be in eval mode (`Module::valid`, so dropout is off and no graph is built).
///
/// Windows of `model.ctx` tokens start from an empty context; `batch` windows go through the
/// model at once. Per-token losses are brought to the host and summed in `f64`, so the result
/// does not depend on the device's reduction order.
pub fn evaluate(model: &Gpt, stream: &[u32], batch: usize) -> NllSum {
    evaluate_batches(model, eval_batches(stream, model.ctx, batch))
}

/// Sums the NLL of every target of `batches` under `model` (in eval mode), on the host in
/// `f64`.
pub fn evaluate_batches(model: &Gpt, batches: Vec<TokenBatch>) -> NllSum {
    let device = model.device();
    let mut sum = NllSum::default();
    for b in batches {
        let (inputs, targets) = batch_tensors(&b, &device);
        let nll = model.nll(inputs, targets).into_data();
        let values = nll
            .try_to_vec::<f32>()
            .expect("the NLL of a float model is a float tensor");
        let nats: f64 = values.iter().map(|&v| f64::from(v)).sum();
        sum.add(nats, b.tokens() as u64);
    }
    sum
}
