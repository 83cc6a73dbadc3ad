// Train a small NCA on Gray-Scott data made on the spot, take one gradient by hand, roll the
// model out from a state it never saw and write a PNG. Uses only the public API of `NCA`.
//   swift run -c release nca-example [OUT-FOLDER]
import NCA

let out = CommandLine.arguments.dropFirst().first ?? "example-output"
// Data: 2 random initial states, 32 × 32, 256 PDE steps, every 32nd kept: 9 × 2 × 32 × 32 × 2.
let pde = GrayScott()
let start = GrayScottInitialCondition.random.states(batch: 2, size: 32, seed: 1)
let data = Tensor<Float>(converting: pde.trajectory(from: start, steps: 256, timeSampling: 32))

// The paper's model (8 channels, 2 observable, identity + Laplacian, 32 hidden, relu).
var training = TrainingConfiguration(model: ModelConfiguration(channels: 8, observableChannels: 2))
training.epochs = 30
training.update = .perMinibatch
training.weightInitialisation = WeightInitialisation(kind: .normal)

// One gradient by hand: 32 steps from frame 0, Euclidean loss against frame 1.
let model = NCAModel<Float>(configuration: training.model, seed: 0)
let engine = NCAEngine<Float>(configuration: training.model, batch: 2, size: 32)
var x0 = Tensor<Float>(zeros: engine.stateShape)
for cell in 0..<(2 * 32 * 32) { for ch in 0..<2 { x0.scalars[cell * 8 + ch] = data.scalars[cell * 2 + ch] } }
let frame1 = Tensor(shape: [2, 32, 32, 2], scalars: Array(data.scalars[(2 * 32 * 32 * 2)..<(4 * 32 * 32 * 2)]))
var rng = RandomGenerator(seed: 0)
let prediction = engine.forward(model, from: x0, steps: 32, rng: &rng)
let (loss, dPrediction) = LossFunction.euclidean.evaluate(prediction: prediction, target: frame1, observableChannels: 2)
let gradients = engine.backward(model, outputGradient: dPrediction)
print("untrained loss after 32 steps: \(loss); largest |∂loss/∂W1| = \(gradients.w1.maxAbs)")

// Algorithm 2 for a few epochs.
let trainer = Trainer(configuration: training, data: data)
for _ in 0..<training.epochs {
    let report = try trainer.runEpoch()
    if report.epoch % 10 == 0 { print("epoch \(report.epoch): loss \(report.loss)") }
}
let trained = trainer.state.model

// Judge it from an unseen initial condition against the model that does nothing.
let unseen = GrayScottInitialCondition.random.states(batch: 1, size: 32, seed: 99)
let test = Tensor<Float>(converting: pde.trajectory(from: unseen, steps: 256, timeSampling: 32))
let score = RolloutEvaluation.evaluate(trained, data: test, timeSampling: 32, loss: .euclidean)
let doNothing = RolloutEvaluation.doNothingLoss(data: test, observable: 2, loss: .euclidean)
print("unseen test loss \(score.meanLoss), do-nothing \(doNothing)")

// Roll out and write the model, the trajectory and a contact sheet of the observable channels.
let renderer = StateRenderer(trajectory: score.trajectory, observable: 2)
let frames = score.trajectory.count / score.trajectory.shape[0]
let sheet = renderer.contactSheet(
    (0..<score.trajectory.shape[0]).map { k in
        (label: "step \(32 * k)", cells: score.trajectory.scalars[(k * frames)..<((k + 1) * frames)])
    })
try AtomicFile.makeFolder(out)
try ModelFile.write(trained, to: out + "/model.safetensors")
try NPY.write(score.trajectory, to: out + "/trajectory.npy")
try PNG.write(sheet, to: out + "/rollout.png")
print("wrote \(out)/model.safetensors, trajectory.npy and rollout.png")
