//! What an operation declares about itself, the job it receives, and the trait it implements.

use crate::{
    error::PluginError,
    host::Host,
    image::{ImageBuf, ImageView, PixelFormat},
    params::{AppliesWhen, Param, ParamSpec, Params},
};
use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

/// Operation flags (a bit set, so new flags do not change the layout).
pub mod flags {
    /// Tiles may be processed independently (with overlap); the host tiles large inputs.
    pub const TILEABLE: u32 = 1 << 0;
    /// Meant for video frames in a streaming session.
    pub const STREAMS_VIDEO: u32 = 1 << 1;
    /// Output depends only on inputs and the seed parameter.
    pub const DETERMINISTIC: u32 = 1 << 2;
    /// The host blends the result over the input through the soft mask (otherwise it multiplies
    /// the result's alpha by the mask).
    pub const COMPOSITE_THROUGH_MASK: u32 = 1 << 3;
    /// Reference images are layers of the same document, pixel-aligned with the image: the host
    /// requires them to be the image's size and crops them exactly like the image.
    pub const ALIGNED_REFERENCES: u32 = 1 << 4;
}

/// Whether an operation takes a mask. A `u8` newtype, so later SDKs can add uses; a host refuses
/// an operation whose mask use it does not name.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaskUse(pub u8);

#[allow(non_upper_case_globals)] // named like the enum variants they replaced
impl MaskUse {
    /// Any mask sent is used only for cropping and compositing by the host.
    pub const Ignored: MaskUse = MaskUse(0);
    pub const Optional: MaskUse = MaskUse(1);
    pub const Required: MaskUse = MaskUse(2);
}

/// Everything an adapter needs to show and submit an operation.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct OperationDescriptor {
    /// Stable id, `kebab-case`, unique across plugins (e.g. `remove-background`).
    pub id: RString,
    pub title: RString,
    pub description: RString,
    /// Menu path below the host's Easel menu, e.g. `Selection` or `Enhance`.
    pub category: RString,
    pub params: RVec<ParamSpec>,
    pub mask: MaskUse,
    pub min_references: u32,
    pub max_references: u32,
    /// Bit set from [`flags`].
    pub flags: u32,
    /// The pixel format the host converts the image to before running.
    pub working_format: PixelFormat,
    /// Output size over input size (1 for same-size operations, 2 or 4 for upscalers).
    pub output_scale: u32,
    /// Model ids (in the host's model store) this operation may load.
    pub models: RVec<RString>,
}

impl OperationDescriptor {
    /// A same-size operation on RGBA f32 with no mask, references, parameters or flags.
    pub fn new(id: &str, title: &str, category: &str, description: &str) -> Self {
        OperationDescriptor {
            id: id.into(),
            title: title.into(),
            description: description.into(),
            category: category.into(),
            params: RVec::new(),
            mask: MaskUse::Ignored,
            min_references: 0,
            max_references: 0,
            flags: 0,
            working_format: PixelFormat::Rgba32F,
            output_scale: 1,
            models: RVec::new(),
        }
    }
    pub fn param(mut self, spec: ParamSpec) -> Self {
        self.params.push(spec);
        self
    }
    pub fn mask(mut self, mask: MaskUse) -> Self {
        self.mask = mask;
        self
    }
    pub fn references(mut self, min: u32, max: u32) -> Self {
        self.min_references = min;
        self.max_references = max;
        self
    }
    pub fn flags(mut self, flags: u32) -> Self {
        self.flags |= flags;
        self
    }
    pub fn working_format(mut self, format: PixelFormat) -> Self {
        self.working_format = format;
        self
    }
    pub fn output_scale(mut self, scale: u32) -> Self {
        self.output_scale = scale;
        self
    }
    pub fn model(mut self, id: &str) -> Self {
        self.models.push(id.into());
        self
    }
    pub fn has_flag(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// One unit of work, already validated, converted and cropped by the host.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct Job<'a> {
    pub operation: RStr<'a>,
    /// The image in the operation's working format.
    pub image: ImageView<'a>,
    /// The soft mask (modifiers applied, cropped like the image), `Gray32F`.
    pub mask: ROption<ImageView<'a>>,
    /// Reference images in the working format.
    pub references: RSlice<'a, ImageView<'a>>,
    /// Every declared parameter, defaults filled in.
    pub params: RSlice<'a, Param>,
}

impl<'a> Job<'a> {
    pub fn params(&self) -> Params<'a> {
        Params(self.params)
    }
    pub fn mask(&self) -> Option<ImageView<'a>> {
        self.mask.into_option()
    }
}

/// An operation a plugin provides.
///
/// `descriptor` and `run` are the prefix of the vtable: every plugin has them. Methods after
/// `run` were added later and have defaults; a plugin built before a method existed answers with
/// the default (abi_stable calls it when the plugin's vtable is shorter than the host's). New
/// descriptor data is always added this way, never as a field of [`OperationDescriptor`].
#[sabi_trait]
pub trait Operation: Send + Sync {
    fn descriptor(&self) -> OperationDescriptor;

    /// Runs one job. Long work reports progress and returns `Cancelled` soon after
    /// `host.is_cancelled()` turns true.
    #[sabi(last_prefix_field)]
    fn run(&self, job: &Job<'_>, host: &Host<'_>) -> RResult<ImageBuf, PluginError>;

    /// Titles for people of the choice parameter `param`'s options, one per option in the
    /// order of its `options` (which are ids for scripts). Empty (the default): adapters show
    /// the ids. Added in ABI 2.
    fn option_titles(&self, param: RStr<'_>) -> RVec<RString> {
        let _ = param;
        RVec::new()
    }

    /// When the parameter `param` applies (the default: always). Added in ABI 2.
    fn applies_when(&self, param: RStr<'_>) -> ROption<AppliesWhen> {
        let _ = param;
        ROption::RNone
    }
}

/// An operation object that crosses the boundary.
pub type OperationBox = Operation_TO<'static, RBox<()>>;
