// The menu value that follows the prediction ("" in Python).
const AUTO = '__auto__';

// Computed properties `<name>Items` (the menu: `autoTitle` first, then the classes) and
// `<name>Model` (its v-model, read from and written to the trait `trait`). `autoTitle` is a
// string or a function of the component.
function classMenu(name, trait, autoTitle) {
  return {
    [`${name}Items`]() {
      const title = typeof autoTitle === 'function' ? autoTitle(this) : autoTitle;
      return [{ title, value: AUTO }].concat(this.classes.map((c) => ({ title: c, value: c })));
    },
    [`${name}Model`]: {
      get() {
        return this[trait] || AUTO;
      },
      set(value) {
        this[trait] = value === AUTO ? '' : value;
      },
    },
  };
}

// `titleOf(items, value)`: the title of a menu's value, for the menu's tooltip (a narrow
// select cuts long titles).
const menuTitles = {
  titleOf(items, value) {
    const item = (items || []).find((i) => i.value === value);
    return item ? item.title : value;
  },
};
