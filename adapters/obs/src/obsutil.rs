//! Small safe-ish helpers over the libobs C API: settings, properties, strings.

use crate::sys::*;
use easel_protocol::{ParamInfo, ParamKind};
use std::ffi::{c_char, CStr, CString};

pub fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// # Safety
/// `p` is null or a NUL-terminated string.
pub unsafe fn string_of(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Settings of a source, read by key.
pub struct Settings(pub *mut obs_data_t);

impl Settings {
    pub fn string(&self, key: &CStr) -> String {
        // SAFETY: a live obs_data_t for the duration of the callback.
        unsafe { string_of(obs_data_get_string(self.0, key.as_ptr())) }
    }
    pub fn int(&self, key: &CStr) -> i64 {
        unsafe { obs_data_get_int(self.0, key.as_ptr()) }
    }
    pub fn float(&self, key: &CStr) -> f64 {
        unsafe { obs_data_get_double(self.0, key.as_ptr()) }
    }
    pub fn boolean(&self, key: &CStr) -> bool {
        unsafe { obs_data_get_bool(self.0, key.as_ptr()) }
    }
    /// The values set explicitly (not the defaults), as JSON.
    pub fn json(&self) -> serde_json::Value {
        let s = unsafe { string_of(obs_data_get_json(self.0)) };
        serde_json::from_str(&s).unwrap_or(serde_json::Value::Null)
    }
    pub fn set_string(&self, key: &CStr, v: &str) {
        let c = cstring(v);
        unsafe { obs_data_set_string(self.0, key.as_ptr(), c.as_ptr()) }
    }
    pub fn default_string(&self, key: &CStr, v: &str) {
        let c = cstring(v);
        unsafe { obs_data_set_default_string(self.0, key.as_ptr(), c.as_ptr()) }
    }
    pub fn default_int(&self, key: &CStr, v: i64) {
        unsafe { obs_data_set_default_int(self.0, key.as_ptr(), v) }
    }
    pub fn default_float(&self, key: &CStr, v: f64) {
        unsafe { obs_data_set_default_double(self.0, key.as_ptr(), v) }
    }
    pub fn default_bool(&self, key: &CStr, v: bool) {
        unsafe { obs_data_set_default_bool(self.0, key.as_ptr(), v) }
    }
    /// Strings of an array-of-objects setting (an editable list: each item's "value").
    pub fn list(&self, key: &CStr) -> Vec<String> {
        let mut out = Vec::new();
        unsafe {
            let arr = obs_data_get_array(self.0, key.as_ptr());
            if arr.is_null() {
                return out;
            }
            for i in 0..obs_data_array_count(arr) {
                let item = obs_data_array_item(arr, i);
                if !item.is_null() {
                    out.push(string_of(obs_data_get_string(item, c"value".as_ptr())));
                    obs_data_release(item);
                }
            }
            obs_data_array_release(arr);
        }
        out
    }
    /// Appends a string item to an editable-list setting.
    pub fn push_list(&self, key: &CStr, v: &str) {
        unsafe {
            let mut arr = obs_data_get_array(self.0, key.as_ptr());
            if arr.is_null() {
                arr = obs_data_array_create();
            }
            let item = obs_data_create();
            let c = cstring(v);
            obs_data_set_string(item, c"value".as_ptr(), c.as_ptr());
            obs_data_set_bool(item, c"selected".as_ptr(), false);
            obs_data_set_bool(item, c"hidden".as_ptr(), false);
            obs_data_array_push_back(arr, item);
            obs_data_release(item);
            obs_data_set_array(self.0, key.as_ptr(), arr);
            obs_data_array_release(arr);
        }
    }
    /// Replaces an editable-list setting with these strings.
    pub fn set_list(&self, key: &CStr, values: &[String]) {
        unsafe {
            let arr = obs_data_array_create();
            for v in values {
                let item = obs_data_create();
                let c = cstring(v);
                obs_data_set_string(item, c"value".as_ptr(), c.as_ptr());
                obs_data_set_bool(item, c"selected".as_ptr(), false);
                obs_data_set_bool(item, c"hidden".as_ptr(), false);
                obs_data_array_push_back(arr, item);
                obs_data_release(item);
            }
            obs_data_set_array(self.0, key.as_ptr(), arr);
            obs_data_array_release(arr);
        }
    }
}

/// Adds the properties of one parameter from the operation's schema; `key` is its setting.
/// # Safety
/// `props` is a live properties object (inside a `get_properties` callback).
pub unsafe fn add_param(props: *mut obs_properties_t, key: &str, p: &ParamInfo) {
    let k = cstring(key);
    let title = cstring(&p.title);
    let prop = match &p.kind {
        ParamKind::Choice {
            options,
            option_titles,
            ..
        } => {
            let l = obs_properties_add_list(
                props,
                k.as_ptr(),
                title.as_ptr(),
                OBS_COMBO_TYPE_LIST,
                OBS_COMBO_FORMAT_STRING,
            );
            for (i, o) in options.iter().enumerate() {
                let t = cstring(option_titles.get(i).unwrap_or(o));
                let v = cstring(o);
                obs_property_list_add_string(l, t.as_ptr(), v.as_ptr());
            }
            l
        }
        ParamKind::Bool { .. } => obs_properties_add_bool(props, k.as_ptr(), title.as_ptr()),
        ParamKind::Int { min, max, .. } => obs_properties_add_int_slider(
            props,
            k.as_ptr(),
            title.as_ptr(),
            (*min).max(i32::MIN as i64) as i32,
            (*max).min(i32::MAX as i64) as i32,
            1,
        ),
        ParamKind::Float { min, max, step, .. } => {
            obs_properties_add_float_slider(props, k.as_ptr(), title.as_ptr(), *min, *max, *step)
        }
        ParamKind::Seed { .. } => {
            obs_properties_add_int(props, k.as_ptr(), title.as_ptr(), 0, i32::MAX, 1)
        }
        ParamKind::Text { multiline, .. } => obs_properties_add_text(
            props,
            k.as_ptr(),
            title.as_ptr(),
            if *multiline {
                OBS_TEXT_MULTILINE
            } else {
                OBS_TEXT_DEFAULT
            },
        ),
    };
    let d = cstring(&p.description);
    obs_property_set_long_description(prop, d.as_ptr());
}
